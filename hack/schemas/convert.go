package main

import (
	"fmt"
	"sort"
	"strings"
)

// draft4 is the JSON Schema dialect of the generated files. kubeconform
// compiles schemas without a $schema keyword as draft 4 too.
const draft4 = "http://json-schema.org/draft-04/schema#"

const (
	definitionsRef = "#/definitions/"
	quantityName   = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	objectMetaName = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)

// intOrString returns the schema of an int-or-string field. The API server
// takes both `port: 8080` and `port: http`.
func intOrString() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "integer"},
	}}
}

// quantity returns the schema of a resource.Quantity field. The OpenAPI spec
// types it as a string, but the API server also decodes JSON numbers, so
// `cpu: 1` is valid.
func quantity() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "number"},
	}}
}

// converter turns OpenAPI schemas (Swagger 2.0 definitions or a CRD's
// openAPIV3Schema) into JSON Schema draft 4 documents that kubeconform
// loads.
type converter struct {
	// strict adds "additionalProperties": false to every object schema
	// that lists its properties, as kubectl's client-side validation did,
	// so a misspelt or misplaced field is an error.
	strict bool
}

// schema converts one schema value. It walks only the keywords that hold
// subschemas, so a property that happens to be named "format" or
// "properties" is never mistaken for a keyword.
func (c converter) schema(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		// true, false or a malformed value: JSON Schema decides.
		return v
	}
	if f, _ := m["format"].(string); f == "int-or-string" {
		return intOrString()
	}
	if b, _ := m["x-kubernetes-int-or-string"].(bool); b && m["anyOf"] == nil && m["oneOf"] == nil {
		return intOrString()
	}

	out := make(map[string]any, len(m))
	for k, val := range m {
		switch {
		case k == "description":
			// Descriptions make up most of the spec's bytes, and no
			// validation message uses them.
		case strings.HasPrefix(k, "x-kubernetes-"):
			// Read below where they change validation.
		case k == "properties" || k == "patternProperties" || k == "definitions":
			out[k] = c.schemaMap(val)
		case k == "additionalProperties" || k == "not":
			out[k] = c.schema(val)
		case k == "items":
			if list, ok := val.([]any); ok {
				out[k] = c.schemaList(list)
			} else {
				out[k] = c.schema(val)
			}
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			list, _ := val.([]any)
			out[k] = c.schemaList(list)
		case k == "nullable":
			// OpenAPI 3 only; applied to "type" below.
		default:
			out[k] = val
		}
	}

	if b, _ := m["nullable"].(bool); b {
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	preserve, _ := m["x-kubernetes-preserve-unknown-fields"].(bool)
	_, hasProps := m["properties"]
	_, hasAdditional := m["additionalProperties"]
	if c.strict && hasProps && !hasAdditional && !preserve {
		out["additionalProperties"] = false
	}
	return out
}

func (c converter) schemaMap(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, s := range m {
		out[k] = c.schema(s)
	}
	return out
}

func (c converter) schemaList(list []any) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = c.schema(s)
	}
	return out
}

// refs returns the definition names that v references, directly or
// through other definitions in defs, sorted.
func refs(defs map[string]any, v any) ([]string, error) {
	seen := map[string]bool{}
	var missing []string
	queue := directRefs(v)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		def, ok := defs[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		queue = append(queue, directRefs(def)...)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("resolve $ref: definitions not found in the spec: %s", strings.Join(missing, ", "))
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func directRefs(v any) []string {
	var names []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, val := range v {
				if s, ok := val.(string); ok && k == "$ref" && strings.HasPrefix(s, definitionsRef) {
					names = append(names, strings.TrimPrefix(s, definitionsRef))
					continue
				}
				walk(val)
			}
		case []any:
			for _, val := range v {
				walk(val)
			}
		}
	}
	walk(v)
	return names
}

// standalone returns root as a self-contained document: root's keywords
// plus a "definitions" section holding every definition it references, so
// the Swagger-style refs "#/definitions/NAME" resolve inside the file.
func (c converter) standalone(defs map[string]any, root any) (map[string]any, error) {
	doc, ok := c.schema(root).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("convert schema: root is %T, want an object", root)
	}
	names, err := refs(defs, root)
	if err != nil {
		return nil, err
	}
	if len(names) > 0 {
		section := make(map[string]any, len(names))
		for _, name := range names {
			section[name] = c.schema(defs[name])
		}
		doc["definitions"] = section
	}
	doc["$schema"] = draft4
	return doc, nil
}

// schemaFileName returns the file name kubeconform looks up for a kind:
// the lower-case kind, the first label of the API group (none for the core
// group) and the version, as in deployment-apps-v1.json or service-v1.json.
func schemaFileName(group, version, kind string) string {
	name := strings.ToLower(kind)
	if group != "" {
		name += "-" + strings.ToLower(strings.SplitN(group, ".", 2)[0])
	}
	return name + "-" + strings.ToLower(version) + ".json"
}
