// Package distconsts replaces github.com/dagger/dagger/engine/distconsts,
// which the Go module proxy does not serve. It contains the paths and names
// that the engine and the CLI are built with. The local stack places runc,
// dagger-init and the builtin content where these constants point.
package distconsts

const (
	// RuncPath is where the engine runs runc from.
	RuncPath = "/usr/local/bin/runc"
	// DaggerInitPath is the init process the engine puts in containers.
	DaggerInitPath = "/usr/local/bin/dagger-init"

	// EngineDefaultStateDir is the engine's default state folder.
	EngineDefaultStateDir = "/var/lib/dagger"
	// EngineContainerBuiltinContentDir contains the builtin OCI content, such
	// as the SDK runtime images.
	EngineContainerBuiltinContentDir = "/usr/local/share/dagger/content"

	// The SDK runtime images are found in the builtin content by the
	// manifest digest in these environment variables.
	GoSDKManifestDigestEnvName         = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	PythonSDKManifestDigestEnvName     = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"

	// EngineCustomCACertsDir contains extra CA certificates for the engine.
	EngineCustomCACertsDir = "/usr/local/share/ca-certificates"

	// DefaultEngineSockAddr is the engine's default listen address.
	DefaultEngineSockAddr = "unix:///run/dagger/engine.sock"

	// EngineContainerName is the name of an engine the CLI starts itself.
	EngineContainerName = "dagger-engine.dev"

	// OCIVersionAnnotation marks the engine version on its image.
	OCIVersionAnnotation = "org.opencontainers.image.version"
)

// Image references. The engine uses AlpineImage only as the default image
// of an interactive terminal, and the local stack pulls none of them.
const (
	AlpineVersion  = "3.22.1"
	AlpineImage    = "alpine:" + AlpineVersion
	GolangVersion  = "1.26.1"
	GolangImage    = "golang:" + GolangVersion + "-alpine"
	BusyboxVersion = "1.37.0"
	BusyboxImage   = "busybox:" + BusyboxVersion
)
