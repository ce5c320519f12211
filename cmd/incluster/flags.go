package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/incluster/incluster/pipeline/kubesecret"
	"github.com/incluster/incluster/pipeline/rollout"
)

// Environment variables that the commands read.
const (
	envUsername = "INCLUSTER_USERNAME"
	envToken    = "INCLUSTER_TOKEN"
)

// errHelp means --help was given and the help text printed.
var errHelp = errors.New("help requested")

// usageError is an invalid command line: exit code 2.
type usageError struct{ message string }

func (e *usageError) Error() string { return e.message }

func usagef(format string, args ...any) error {
	return &usageError{message: fmt.Sprintf(format, args...)}
}

// wrappedError has a message of its own and wraps err, so that a
// command can reword an error and callers can still match it.
type wrappedError struct {
	message string
	err     error
}

func (e *wrappedError) Error() string { return e.message }
func (e *wrappedError) Unwrap() error { return e.err }

// plural returns "1 blob" or "2 blobs".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// newFlagSet returns a flag set whose help text is usage followed by the
// flag list, if the command has flags.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(usage, "\n"))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// checkTimeout rejects a --timeout that is not positive.
func checkTimeout(command string, timeout time.Duration) error {
	if timeout <= 0 {
		return usagef("%s: --timeout %s: must be positive, such as 30s or 5m", command, timeout)
	}
	return nil
}

// withTimeout wraps err with the --timeout value when the deadline of
// ctx, set from --timeout, ended the command.
func withTimeout(ctx context.Context, err error, timeout time.Duration) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return &wrappedError{message: fmt.Sprintf("%v (--timeout %s)", err, timeout), err: err}
}

// parse parses args, allowing flags after positional arguments, and
// returns the positional arguments. A "--" ends the flags. --help prints
// the help text to s.out and returns errHelp.
func parse(fs *flag.FlagSet, s *streams, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(s.out)
				fs.Usage()
				return nil, errHelp
			}
			return nil, usagef("%s: %v\nRun 'incluster %s --help' for usage.", fs.Name(), err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// flag.Parse stops at the first positional argument or after "--".
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// credentialFlags are the flags and environment variables for a username
// and a token. The token is never a flag value, so that it stays out of
// process listings and shell history.
type credentialFlags struct {
	username  string
	tokenFile string
	// tokenSecret is NAMESPACE/NAME[:KEY] of a Kubernetes Secret that
	// holds the token, read with kubeconfig (or the in-cluster config).
	tokenSecret string
	kubeconfig  string
	// usernameOptional allows a token without a username, for servers
	// that identify the user by the token alone.
	usernameOptional bool
}

func (c *credentialFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.username, "username", "", "user name that the token belongs to (default $"+envUsername+")")
	fs.StringVar(&c.tokenFile, "token-file", "", "read the token from this file, or from standard input if '-' (default: the value of $"+envToken+")")
	fs.StringVar(&c.tokenSecret, "token-secret", "", "read the token from the Kubernetes Secret `NAMESPACE/NAME[:KEY]` (key default \""+kubesecret.DefaultKey+"\")")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig `file` for --token-secret (default $KUBECONFIG, then the in-cluster config)")
}

// parseSecretRef splits NAMESPACE/NAME[:KEY].
func parseSecretRef(ref string) (namespace, name, key string, err error) {
	rest, key, _ := strings.Cut(ref, ":")
	namespace, name, ok := strings.Cut(rest, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return "", "", "", usagef("--token-secret %q: expected NAMESPACE/NAME or NAMESPACE/NAME:KEY", ref)
	}
	return namespace, name, key, nil
}

// secretToken reads the token from the Secret that --token-secret names.
func (c *credentialFlags) secretToken(ctx context.Context, s *streams) (string, error) {
	namespace, name, key, err := parseSecretRef(c.tokenSecret)
	if err != nil {
		return "", err
	}
	kubeconfig := c.kubeconfig
	if kubeconfig == "" {
		kubeconfig = s.getenv("KUBECONFIG")
	}
	client, _, err := rollout.NewClient(kubeconfig)
	if err != nil {
		return "", fmt.Errorf("read the token: %w", err)
	}
	token, err := kubesecret.Token(ctx, client, namespace, name, key)
	if err != nil {
		return "", fmt.Errorf("read the token: %w", err)
	}
	return token, nil
}

// resolve returns the username and the token. Without a token file or
// $INCLUSTER_TOKEN, the token is empty (anonymous access).
func (c *credentialFlags) resolve(ctx context.Context, s *streams) (username, token string, err error) {
	username = c.username
	if username == "" {
		username = s.getenv(envUsername)
	}
	if c.tokenSecret != "" && c.tokenFile != "" {
		return "", "", usagef("--token-file and --token-secret conflict: give one")
	}
	if c.kubeconfig != "" && c.tokenSecret == "" {
		return "", "", usagef("--kubeconfig needs --token-secret")
	}
	switch {
	case c.tokenSecret != "":
		token, err = c.secretToken(ctx, s)
		if err != nil {
			return "", "", err
		}
	// A token file that is missing, unreadable or empty is a failure
	// (exit code 1), not a usage error: the command line is right, but
	// the file, such as a mounted Secret, is not.
	case c.tokenFile == "-":
		data, err := io.ReadAll(io.LimitReader(s.in, 1<<20))
		if err != nil {
			return "", "", fmt.Errorf("read the token from standard input: %w", err)
		}
		token = strings.TrimSpace(string(data))
		if token == "" {
			return "", "", errors.New("read the token from standard input: it is empty")
		}
	case c.tokenFile != "":
		data, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return "", "", fmt.Errorf("read the token: %w", err)
		}
		token = strings.TrimSpace(string(data))
		if token == "" {
			return "", "", fmt.Errorf("read the token: %s is empty", c.tokenFile)
		}
	default:
		token = s.getenv(envToken)
	}
	if token != "" && username == "" && !c.usernameOptional {
		return "", "", usagef("a token needs a username: set --username or $%s", envUsername)
	}
	return username, token, nil
}

// checkOwnerName checks that the repository path of an image, such as
// "owner/app", is exactly OWNER/NAME, the only form that Gitea's registry
// accepts. what describes the value for the message.
func checkOwnerName(command, what, value, path string) error {
	if owner, name, ok := strings.Cut(path, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return usagef("%s: %s %q: the image name %q is not OWNER/NAME: Gitea's registry takes exactly one owner and one name", command, what, value, path)
	}
	return nil
}
