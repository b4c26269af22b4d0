// Package csi is Coffer's provider for the Kubernetes Secrets Store CSI
// driver (`coffer csi-provider`): the driver calls it over a unix socket
// (service v1alpha1.CSIDriverProvider, package [providerpb]) when a pod
// mounts a volume of a SecretProviderClass whose provider is "coffer", and
// it returns the secrets as files, so that no Kubernetes Secret holds them.
//
// # Mount
//
// The SecretProviderClass's parameters have the shapes Vault's provider
// documents:
//
//   - roleName: the role of Coffer's kubernetes auth method to log in with
//     (required);
//   - objects: a YAML list of objectName (the file's path in the volume),
//     secretPath (an API path such as secret/data/web), and optionally
//     secretKey, secretArgs, method (GET, PUT or POST), filePermission and
//     encoding (utf-8, base64 or hex);
//   - vaultKubernetesMountPath or vaultAuthMountPath: the auth method's
//     mount (default: the provider's -kubernetes-mount, "kubernetes");
//   - audience: which of the driver's service account tokens to use;
//   - vaultAddress: honoured only when it is the provider's own address,
//     or when the provider runs with -allow-address-override (see
//     [Options.AllowAddressOverride]). vaultNamespace is refused; Vault's
//     TLS parameters are ignored: the provider's flags decide TLS.
//
// The pod's service account token comes from the driver
// (csi.storage.k8s.io/serviceAccount.tokens, present when the CSIDriver
// object has tokenRequests). Each Mount logs in at auth/<mount>/login with
// the role and that token, reads every object with the token it gets,
// and revokes the token when no read created a lease. A read of KV
// version 2 (data and metadata) takes secretKey from data.data and its
// version from metadata.version; any other read takes secretKey from data.
// Without secretKey, the file holds the response's data as JSON. The
// object version of anything but KV version 2 is a keyed hash of the
// content, so that the driver's rotation sees every change.
//
// The request's secrets (the volume's nodePublishSecretRef), target_path
// and current_object_version are not used: the provider returns files for
// the driver to write.
//
// A failed Mount is a gRPC error with a message that says what to fix and,
// as a detail, a MountResponse whose Error holds a code (the Code
// constants). Neither the log nor an error ever holds a token or secret
// content.
//
// # Layering
//
// Like the agent, the provider is a client of the Coffer API like any
// other: it imports the vault/api client, gRPC and its generated types,
// never the server's packages. A [Provider] is immutable after [New] and
// safe for concurrent calls.
package csi
