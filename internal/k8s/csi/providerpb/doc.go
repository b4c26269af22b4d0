// Package providerpb holds the Go types and gRPC stubs of the Secrets Store
// CSI driver's provider API (service v1alpha1.CSIDriverProvider: Version and
// Mount), generated from service.proto, the interface definition the driver
// publishes, kept here as published with its license header.
//
// The .pb.go files are generated and committed; CI does not regenerate
// them. To regenerate (protoc from Debian's protobuf-compiler, the Go
// plugins at the versions gen.sh pins), run
//
//	go generate ./internal/k8s/csi/providerpb/
//
// This package imports nothing of the module.
package providerpb

//go:generate sh gen.sh
