// Command actrun runs workflows/build-and-push.yml under nektos/act in host
// mode against the local stack and checks what the run wrote.
//
// It makes a git repository of one commit from a small Go service
// (hack/testdata/actservice) and a manifest repository in the stack's
// Gitea with a Deployment of that service. Then it runs act on the
// service's repository, with the repository variables pointing at Gitea,
// the local Dagger module (INCLUSTER_MODULE) and the stack's Gitea token
// file. act replaces the checkout step with a copy of the service's work
// tree, so only the workflow's run: steps execute. act runs in a network
// namespace of its own that has only a loopback interface, under strace,
// and the run fails when any process tried to reach an address outside
// that namespace. The Dagger CLI reaches the engine over its unix socket,
// and the engine reaches Gitea from its own namespace.
//
// Then it checks the job result, the step outputs (image, digest, commit)
// against Gitea and its registry, the job summary, and that the token
// never appears in act's log. stdout gets the outputs and the summary as
// JSON; stderr gets one line per failed check. The manifest repository
// and the pushed image are deleted at the end.
//
//	eval "$(hack/stack env)"
//	go run ./hack/actrun -act "$(go tool -modfile=hack/tools/go.mod -n act)"
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/incluster/incluster/internal/toolmain"
)

// pipelineStep is the id of the workflow step that runs build-and-push.
const pipelineStep = "pipeline"

// manifestPath is the file of the fixture repository with the Deployment
// that the run bumps.
const manifestPath = "hello/deployment.yaml"

// errChecks means that the run finished but at least one check failed.
var errChecks = errors.New("checks failed")

func main() {
	toolmain.Run("actrun", run)
}

type config struct {
	act      string
	workflow string
	module   string
	service  string
	manifest string
	logs     string
	timeout  time.Duration
	stack    stack
	// source is the git repository made from service, which act runs on.
	source string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("actrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.act, "act", "", "path of the act binary (required)")
	fs.StringVar(&cfg.workflow, "workflow", "workflows/build-and-push.yml", "workflow file to run")
	fs.StringVar(&cfg.module, "module", ".", "folder of the Dagger module that the workflow calls")
	fs.StringVar(&cfg.service, "service", "hack/testdata/actservice", "Go service that the workflow ships; its copy replaces the checkout")
	fs.StringVar(&cfg.manifest, "manifest", "manifests/app/deployment.yaml", "Deployment for the manifest repository; its image is replaced by the service's")
	fs.StringVar(&cfg.logs, "logs", "", "folder for act.log and strace.log (default: a temporary folder, removed at exit)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "time limit for the act run")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./hack/actrun -act PATH [flags]\n\n"+
			"Runs the workflow under nektos/act in host mode against the local stack\n"+
			"(eval \"$(hack/stack env)\") and checks its outputs and summary.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.act == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("missing -act or unexpected arguments: %w", flag.ErrHelp)
	}
	var err error
	cfg.stack, err = stackFromEnv()
	if err != nil {
		return err
	}
	for _, p := range []*string{&cfg.act, &cfg.workflow, &cfg.module, &cfg.service, &cfg.manifest} {
		if *p, err = filepath.Abs(*p); err != nil {
			return fmt.Errorf("resolve path %s: %w", *p, err)
		}
	}
	if cfg.logs == "" {
		cfg.logs, err = os.MkdirTemp("", "incluster-actrun-")
		if err != nil {
			return fmt.Errorf("create log folder: %w", err)
		}
		defer os.RemoveAll(cfg.logs)
	} else if err := os.MkdirAll(cfg.logs, 0o700); err != nil {
		return fmt.Errorf("create log folder %s: %w", cfg.logs, err)
	}

	if err := downloadModules(ctx, cfg.module); err != nil {
		return err
	}
	cfg.source = filepath.Join(cfg.logs, "source")
	if err := makeSource(ctx, cfg.service, cfg.source); err != nil {
		return err
	}
	g, err := newGitea(ctx, cfg.stack)
	if err != nil {
		return err
	}
	repo, err := g.createFixture(cfg.manifest, cfg.stack.clusterGitea)
	if err != nil {
		return err
	}
	defer g.deleteFixture(repo, stderr)

	start := time.Now()
	runErr := runAct(ctx, cfg, repo)
	elapsed := time.Since(start)

	result, problems := evaluate(ctx, cfg, g, repo, runErr)
	result.Seconds = elapsed.Seconds()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(result); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "act check: %s\n", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %d problems in the act run of %s (logs: %s)", errChecks, len(problems), cfg.workflow, cfg.logs)
	}
	return nil
}

// result is the JSON document that actrun prints on stdout.
type result struct {
	Repository  string       `json:"repository"`
	Seconds     float64      `json:"seconds"`
	Run         runLog       `json:"run"`
	Connections []connection `json:"outboundConnections"`
}

// evaluate reads the logs of the run and returns every check that failed.
func evaluate(ctx context.Context, cfg config, g *giteaFixture, repo string, runErr error) (result, []string) {
	res := result{Repository: g.owner + "/" + repo}
	var problems []string
	if runErr != nil {
		problems = append(problems, runErr.Error())
	}

	actLog, err := os.ReadFile(filepath.Join(cfg.logs, "act.log"))
	if err != nil {
		return res, append(problems, fmt.Sprintf("read act log: %v", err))
	}
	for _, n := range secretLines(actLog, cfg.stack.token) {
		problems = append(problems, fmt.Sprintf("the Gitea token appears unmasked in line %d of act's log", n))
	}
	res.Run, err = readRunLog(bytes.NewReader(actLog), pipelineStep)
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, e := range res.Run.Errors {
		problems = append(problems, "the run logged an error: "+e)
	}
	if res.Run.JobResult != "success" {
		problems = append(problems, fmt.Sprintf("job result is %q, not \"success\"", res.Run.JobResult))
	}

	trace, err := os.Open(filepath.Join(cfg.logs, "strace.log"))
	if err != nil {
		problems = append(problems, fmt.Sprintf("read strace log: %v", err))
	} else {
		conns, err := parseTrace(trace)
		trace.Close()
		if err != nil {
			problems = append(problems, err.Error())
		}
		res.Connections = outbound(conns)
		for _, c := range res.Connections {
			problems = append(problems, "outbound connection attempt: "+c.String())
		}
	}

	problems = append(problems, checkOutputs(ctx, cfg.stack, g, repo, res.Run)...)
	return res, problems
}

// stack contains the variables that `hack/stack env` exports.
type stack struct {
	giteaURL     string
	user         string
	token        string
	tokenFile    string
	registry     string
	clusterGitea string
	engineHost   string
	dagger       string
	// The mirrors of the Go image, the base image and the Go module
	// proxy that the engine reaches.
	goImage        string
	baseImage      string
	clusterGoProxy string
}

func stackFromEnv() (stack, error) {
	var missing []string
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	s := stack{
		giteaURL:       get("INCLUSTER_GITEA_URL"),
		user:           get("INCLUSTER_GITEA_USER"),
		tokenFile:      get("INCLUSTER_GITEA_TOKEN_FILE"),
		registry:       get("INCLUSTER_REGISTRY"),
		clusterGitea:   get("INCLUSTER_CLUSTER_GITEA"),
		engineHost:     get("_EXPERIMENTAL_DAGGER_RUNNER_HOST"),
		dagger:         get("INCLUSTER_DAGGER"),
		goImage:        get("INCLUSTER_GO_IMAGE"),
		baseImage:      get("INCLUSTER_BASE_IMAGE"),
		clusterGoProxy: get("INCLUSTER_CLUSTER_GOPROXY"),
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("missing stack variables %s: run hack/stack up and eval \"$(hack/stack env)\"", strings.Join(missing, ", "))
	}
	data, err := os.ReadFile(s.tokenFile)
	if err != nil {
		return s, fmt.Errorf("read Gitea token: %w; is the stack up (hack/stack status)?", err)
	}
	s.token = strings.TrimSpace(string(data))
	if s.token == "" {
		return s, fmt.Errorf("read Gitea token: %s is empty", s.tokenFile)
	}
	return s, nil
}
