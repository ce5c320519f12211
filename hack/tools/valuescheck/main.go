// Command valuescheck parses Helm values files strictly and, with
// -pod-template, prints the pod template they carry as a v1 PodTemplate
// object, so kubeconform validates it like any manifest. The Helm charts
// themselves are not reachable offline, so this is what can be checked of
// their values: YAML syntax, duplicate keys, and the embedded pod spec.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "valuescheck: %v\n", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("valuescheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	podTemplate := fs.String("pod-template", "", "dotted `KEY` of a pod template (metadata and spec) to print as a v1 PodTemplate, such as template")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: valuescheck [-pod-template KEY] FILE...\n\n"+
			"Parses each Helm values file; duplicate keys are errors. With -pod-template,\n"+
			"prints the pod template at KEY of each file as JSON for kubeconform.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("missing FILE: %w", flag.ErrHelp)
	}
	for _, file := range fs.Args() {
		values, err := parseValues(file)
		if err != nil {
			return err
		}
		if *podTemplate == "" {
			continue
		}
		obj, err := wrapPodTemplate(file, values, *podTemplate)
		if err != nil {
			return err
		}
		data, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("%s: encode pod template: %w", file, err)
		}
		fmt.Fprintf(stdout, "---\n%s\n", data)
	}
	return nil
}

// parseValues decodes file, which must hold one YAML document. yaml.v3
// rejects a mapping key that appears twice.
func parseValues(file string) (map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var values map[string]any
	for i := 0; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %w", file, err)
		}
		if i > 0 {
			return nil, fmt.Errorf("%s: invalid values file: more than one YAML document", file)
		}
		values = doc
	}
	if values == nil {
		return nil, fmt.Errorf("%s: invalid values file: empty", file)
	}
	return values, nil
}

func wrapPodTemplate(file string, values map[string]any, key string) (map[string]any, error) {
	var v any = values
	for _, part := range strings.Split(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: key %s: %q is not a mapping", file, key, part)
		}
		if v, ok = m[part]; !ok {
			return nil, fmt.Errorf("%s: key %s not found", file, key)
		}
	}
	template, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: key %s is not a mapping", file, key)
	}
	// Named after its folder and file, as in arc-values.
	name := filepath.Base(filepath.Dir(file)) + "-" + strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "PodTemplate",
		"metadata":   map[string]any{"name": name},
		"template":   template,
	}, nil
}
