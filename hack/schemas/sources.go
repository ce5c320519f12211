package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"gopkg.in/yaml.v3"
)

// schemaFile is one generated file: its name in the schema folder and its
// document.
type schemaFile struct {
	Name string
	Doc  map[string]any
}

// loadDefinitions parses a Kubernetes Swagger 2.0 spec (api/openapi-spec/
// swagger.json) and returns its definitions, with resource.Quantity
// widened to accept numbers.
func loadDefinitions(spec []byte) (map[string]any, error) {
	var doc struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("parse OpenAPI spec: %w", err)
	}
	if len(doc.Definitions) == 0 {
		return nil, errors.New("parse OpenAPI spec: no definitions found; is it a Swagger 2.0 file such as api/openapi-spec/swagger.json?")
	}
	if _, ok := doc.Definitions[quantityName]; ok {
		doc.Definitions[quantityName] = quantity()
	}
	return doc.Definitions, nil
}

// gvk is one entry of x-kubernetes-group-version-kind.
type gvk struct {
	Group, Version, Kind string
}

func groupVersionKinds(def any) []gvk {
	m, _ := def.(map[string]any)
	list, _ := m["x-kubernetes-group-version-kind"].([]any)
	var out []gvk
	for _, item := range list {
		e, _ := item.(map[string]any)
		g, _ := e["group"].(string)
		v, _ := e["version"].(string)
		k, _ := e["kind"].(string)
		if v != "" && k != "" {
			out = append(out, gvk{g, v, k})
		}
	}
	return out
}

// builtinSchemas returns one file per group, version and kind in defs.
// A definition listed under several kinds (DeleteOptions, WatchEvent) gets
// a file for each of them.
func builtinSchemas(defs map[string]any, c converter) ([]schemaFile, error) {
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	sort.Strings(names)

	var files []schemaFile
	owner := map[string]string{}
	for _, name := range names {
		kinds := groupVersionKinds(defs[name])
		if len(kinds) == 0 {
			continue
		}
		doc, err := c.standalone(defs, defs[name])
		if err != nil {
			return nil, fmt.Errorf("convert %s: %w", name, err)
		}
		for _, k := range kinds {
			file := schemaFileName(k.Group, k.Version, k.Kind)
			if prev, ok := owner[file]; ok && prev != name {
				return nil, fmt.Errorf("convert %s: file name %s is already taken by %s", name, file, prev)
			}
			owner[file] = name
			files = append(files, schemaFile{Name: file, Doc: doc})
		}
	}
	if len(files) == 0 {
		return nil, errors.New("convert OpenAPI spec: no definition carries x-kubernetes-group-version-kind")
	}
	return files, nil
}

// crdSchemas returns one file per served version of every
// CustomResourceDefinition in the YAML stream data. The schema's metadata
// is replaced by the built-in ObjectMeta from defs, since the API server
// validates it as such while CRDs declare it as a bare object.
func crdSchemas(data []byte, defs map[string]any, c converter) ([]schemaFile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var files []schemaFile
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse CRD YAML: %w", err)
		}
		if obj["kind"] != "CustomResourceDefinition" {
			continue
		}
		got, err := crdVersions(obj, defs, c)
		if err != nil {
			return nil, err
		}
		files = append(files, got...)
	}
	if len(files) == 0 {
		return nil, errors.New("parse CRD YAML: no CustomResourceDefinition with an openAPIV3Schema found")
	}
	return files, nil
}

func crdVersions(crd map[string]any, defs map[string]any, c converter) ([]schemaFile, error) {
	spec, _ := crd["spec"].(map[string]any)
	group, _ := spec["group"].(string)
	names, _ := spec["names"].(map[string]any)
	kind, _ := names["kind"].(string)
	versions, _ := spec["versions"].([]any)
	if group == "" || kind == "" {
		return nil, errors.New("parse CRD: spec.group or spec.names.kind is missing")
	}

	var files []schemaFile
	for _, item := range versions {
		v, _ := item.(map[string]any)
		version, _ := v["name"].(string)
		schema, _ := v["schema"].(map[string]any)
		root, ok := schema["openAPIV3Schema"].(map[string]any)
		if version == "" || !ok {
			continue
		}
		if served, ok := v["served"].(bool); ok && !served {
			continue
		}
		doc, ok := c.schema(root).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("convert CRD %s %s: openAPIV3Schema is not an object", kind, version)
		}
		if props, ok := doc["properties"].(map[string]any); ok {
			if _, ok := defs[objectMetaName]; ok {
				props["metadata"] = map[string]any{"$ref": definitionsRef + objectMetaName}
				metaRefs, err := refs(defs, props["metadata"])
				if err != nil {
					return nil, fmt.Errorf("convert CRD %s %s: %w", kind, version, err)
				}
				section := map[string]any{}
				for _, name := range metaRefs {
					section[name] = c.schema(defs[name])
				}
				doc["definitions"] = section
			}
		}
		doc["$schema"] = draft4
		files = append(files, schemaFile{Name: schemaFileName(group, version, kind), Doc: doc})
	}
	return files, nil
}
