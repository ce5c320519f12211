package writeback

import (
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/sethvargo/go-githubactions"

	"github.com/incluster/incluster/pipeline/manifest"
)

// DefaultMessageTemplate renders a subject that names the new image
// reference, followed by one line per rewritten reference.
const DefaultMessageTemplate = `{{if eq (len .Updates) 1}}Bump {{ref (index .Updates 0)}}{{else}}Bump {{len .Updates}} images{{end}}

{{range .Changes}}- {{.File}}: {{.Kind}}/{{.Name}} {{.Path}}: {{.Old}} -> {{.New}}
{{end}}`

// RunTrailer is the git trailer key that carries the pipeline run URL.
const RunTrailer = "Pipeline-Run"

// MessageData is the value that a commit message template is executed on.
type MessageData struct {
	// Repository is "owner/name" and Branch the branch that receives the
	// commit.
	Repository string
	Branch     string
	// Updates are the requested image references, and Changes the
	// rewritten ones, in file order.
	Updates []manifest.Update
	Changes []manifest.Change
	// Files are the changed files.
	Files []string
	// RunURL is the pipeline run URL, empty outside a pipeline run.
	RunURL string
}

// templateFuncs are the functions that a message template can call besides
// the text/template built-ins: ref formats a manifest.Update as an image
// reference.
var templateFuncs = template.FuncMap{"ref": reference}

func parseMessageTemplate(text string) (*template.Template, error) {
	if text == "" {
		text = DefaultMessageTemplate
	}
	t, err := template.New("message").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse commit message template: %w", err)
	}
	return t, nil
}

// renderMessage executes the Request's template on data and appends the
// run URL trailer. The message ends with exactly one newline.
func renderMessage(req Request, data MessageData) (string, error) {
	t, err := parseMessageTemplate(req.MessageTemplate)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("execute commit message template: %w", err)
	}
	msg := strings.TrimRight(b.String(), "\n\t ")
	if msg == "" {
		return "", fmt.Errorf("execute commit message template: the message is empty")
	}
	if data.RunURL != "" {
		msg += "\n\n" + RunTrailer + ": " + data.RunURL
	}
	return msg + "\n", nil
}

// messageFor renders the commit message for a rewrite on branch.
func messageFor(req Request, branch string, rw rewrite) (string, error) {
	return renderMessage(req, MessageData{
		Repository: req.Repository,
		Branch:     branch,
		Updates:    req.Updates,
		Changes:    rw.changes,
		Files:      rw.files,
		RunURL:     req.RunURL,
	})
}

// RunURLFromEnv returns the web address of the current GitHub Actions run,
// built from GITHUB_SERVER_URL, GITHUB_REPOSITORY and GITHUB_RUN_ID, or ""
// when GITHUB_REPOSITORY or GITHUB_RUN_ID is unset. A nil getenv means
// os.Getenv.
func RunURLFromEnv(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	// GitHubContext would also read the event file at GITHUB_EVENT_PATH,
	// which the run URL does not need.
	env := func(key string) string {
		if key == "GITHUB_EVENT_PATH" {
			return ""
		}
		return getenv(key)
	}
	gh, err := githubactions.New(githubactions.WithGetenv(env)).Context()
	if err != nil || gh.Repository == "" || gh.RunID == 0 {
		return ""
	}
	return fmt.Sprintf("%s/%s/actions/runs/%d", strings.TrimRight(gh.ServerURL, "/"), gh.Repository, gh.RunID)
}

// subjectAndBody splits a commit message into its first line and the rest.
func subjectAndBody(msg string) (subject, body string) {
	subject, body, _ = strings.Cut(strings.TrimRight(msg, "\n"), "\n")
	return subject, strings.TrimLeft(body, "\n")
}
