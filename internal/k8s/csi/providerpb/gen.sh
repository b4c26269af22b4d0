#!/bin/sh
# Regenerates service.pb.go and service_grpc.pb.go from service.proto, the
# Secrets Store CSI driver's provider API as published in
# kubernetes-sigs/secrets-store-csi-driver (provider/v1alpha1/service.proto,
# kept as published). Needs protoc (Debian: protobuf-compiler); the two Go
# plugins are built at the pinned versions below from the module proxy.
# Run it with `go generate ./internal/k8s/csi/providerpb/` and commit the
# result: CI does not regenerate.
set -eu
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN=$bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
pkg=github.com/coffer-secrets/coffer/internal/k8s/csi/providerpb
protoc \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--go_out=. --go_opt=paths=source_relative --go_opt=Mservice.proto="$pkg;providerpb" \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mservice.proto="$pkg;providerpb" \
	service.proto
