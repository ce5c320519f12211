package main

import (
	"encoding/json"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// testSpec is a cut-down Swagger 2.0 spec with the shapes the converter
// treats specially.
const testSpec = `{
  "definitions": {
    "io.k8s.api.apps.v1.Deployment": {
      "description": "Deployment enables declarative updates.",
      "type": "object",
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}
      },
      "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    },
    "io.k8s.api.apps.v1.DeploymentSpec": {
      "type": "object",
      "required": ["selector"],
      "properties": {
        "replicas": {"type": "integer", "format": "int32"},
        "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
        "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
        "selector": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    },
    "io.k8s.api.core.v1.Service": {
      "type": "object",
      "properties": {"kind": {"type": "string"}},
      "x-kubernetes-group-version-kind": [{"group": "", "kind": "Service", "version": "v1"}]
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {
      "type": "object",
      "properties": {"dryRun": {"type": "array", "items": {"type": "string"}}},
      "x-kubernetes-group-version-kind": [
        {"group": "", "kind": "DeleteOptions", "version": "v1"},
        {"group": "apps", "kind": "DeleteOptions", "version": "v1"}
      ]
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    },
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.api.core.v1.Unused": {"type": "object", "properties": {"x": {"type": "string"}}}
  }
}`

const testCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applications.argoproj.io
spec:
  group: argoproj.io
  names:
    kind: Application
  versions:
    - name: v1alpha1
      served: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              properties:
                port:
                  anyOf: [{type: integer}, {type: string}]
                  x-kubernetes-int-or-string: true
                values:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    known: {type: string}
                note:
                  type: string
                  nullable: true
    - name: v1alpha0
      served: false
      schema:
        openAPIV3Schema: {type: object}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-crd
`

func testDefinitions(t *testing.T) map[string]any {
	t.Helper()
	defs, err := loadDefinitions([]byte(testSpec))
	assert.NilError(t, err)
	return defs
}

// lookup follows keys through nested maps.
func lookup(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		assert.Assert(t, ok, "at %q: %T is not an object", k, v)
		v, ok = m[k]
		assert.Assert(t, ok, "key %q not found", k)
	}
	return v
}

func hasKey(v any, key string) bool {
	m, _ := v.(map[string]any)
	_, ok := m[key]
	return ok
}

func TestConvertStrictClosesObjects(t *testing.T) {
	in := map[string]any{
		"type": "object",
		"properties": map[string]any{
			// Property names that equal keywords stay property names.
			"format":     map[string]any{"type": "string"},
			"properties": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}},
		},
	}
	strict := converter{strict: true}.schema(in)
	assert.Equal(t, lookup(t, strict, "additionalProperties"), false)
	assert.Equal(t, lookup(t, strict, "properties", "properties", "additionalProperties"), false)
	assert.Assert(t, !hasKey(lookup(t, strict, "properties"), "additionalProperties"))
	assert.DeepEqual(t, lookup(t, strict, "properties", "format"), map[string]any{"type": "string"})

	loose := converter{strict: false}.schema(in)
	assert.Assert(t, !hasKey(loose, "additionalProperties"))
}

func TestConvertStrictKeepsOpenMaps(t *testing.T) {
	in := map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"a": map[string]any{"type": "string"}},
		"additionalProperties": map[string]any{"type": "string"},
	}
	out := converter{strict: true}.schema(in)
	assert.DeepEqual(t, lookup(t, out, "additionalProperties"), map[string]any{"type": "string"})
}

func TestConvertDropsDescriptions(t *testing.T) {
	in := map[string]any{"type": "string", "description": "long text", "x-kubernetes-list-type": "atomic"}
	out := converter{}.schema(in)
	assert.DeepEqual(t, out, map[string]any{"type": "string"})
}

func TestBuiltinSchemasFileNames(t *testing.T) {
	files, err := builtinSchemas(testDefinitions(t), converter{strict: true})
	assert.NilError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	assert.DeepEqual(t, names, []string{
		"deployment-apps-v1.json",
		"service-v1.json",
		"deleteoptions-v1.json",
		"deleteoptions-apps-v1.json",
	})
}

func TestBuiltinSchemaIsStandalone(t *testing.T) {
	files, err := builtinSchemas(testDefinitions(t), converter{strict: true})
	assert.NilError(t, err)
	doc := files[0].Doc
	assert.Equal(t, doc["$schema"], draft4)
	assert.Equal(t, doc["additionalProperties"], false)

	defs, ok := doc["definitions"].(map[string]any)
	assert.Assert(t, ok)
	var names []string
	for name := range defs {
		names = append(names, name)
	}
	assert.Assert(t, is.Len(names, 4))
	assert.Assert(t, hasKey(defs, "io.k8s.api.apps.v1.DeploymentSpec"))
	assert.Assert(t, hasKey(defs, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"))
	assert.Assert(t, !hasKey(defs, "io.k8s.api.core.v1.Unused"))

	assert.DeepEqual(t, defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"], intOrString())
	assert.DeepEqual(t, defs["io.k8s.apimachinery.pkg.api.resource.Quantity"], quantity())
	spec := defs["io.k8s.api.apps.v1.DeploymentSpec"]
	assert.Equal(t, lookup(t, spec, "additionalProperties"), false)
	assert.DeepEqual(t, lookup(t, spec, "properties", "selector", "additionalProperties"), map[string]any{"type": "string"})
	assert.DeepEqual(t, lookup(t, spec, "required"), []any{"selector"})

	// The document survives a JSON round trip, as written to disk.
	_, err = json.Marshal(doc)
	assert.NilError(t, err)
}

func TestStandaloneMissingRef(t *testing.T) {
	defs := map[string]any{
		"a": map[string]any{"properties": map[string]any{"b": map[string]any{"$ref": "#/definitions/b"}}},
	}
	_, err := converter{}.standalone(defs, defs["a"])
	assert.ErrorContains(t, err, "definitions not found in the spec: b")
}

func TestStandaloneRecursiveRef(t *testing.T) {
	defs := map[string]any{
		"node": map[string]any{"properties": map[string]any{
			"children": map[string]any{"items": map[string]any{"$ref": "#/definitions/node"}},
		}},
	}
	doc, err := converter{strict: true}.standalone(defs, defs["node"])
	assert.NilError(t, err)
	assert.Assert(t, hasKey(lookup(t, doc, "definitions"), "node"))
}

func TestCRDSchemas(t *testing.T) {
	files, err := crdSchemas([]byte(testCRD), testDefinitions(t), converter{strict: true})
	assert.NilError(t, err)
	assert.Assert(t, is.Len(files, 1), "the unserved version and the ConfigMap yield no file")
	f := files[0]
	assert.Equal(t, f.Name, "application-argoproj-v1alpha1.json")
	assert.Equal(t, f.Doc["additionalProperties"], false)
	assert.DeepEqual(t, lookup(t, f.Doc, "properties", "metadata"),
		map[string]any{"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"})
	assert.Assert(t, hasKey(lookup(t, f.Doc, "definitions"), "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"))

	spec := lookup(t, f.Doc, "properties", "spec")
	assert.Equal(t, lookup(t, spec, "additionalProperties"), false)
	assert.Assert(t, hasKey(lookup(t, spec, "properties", "port"), "anyOf"))
	assert.Assert(t, !hasKey(lookup(t, spec, "properties", "values"), "additionalProperties"),
		"x-kubernetes-preserve-unknown-fields keeps the object open")
	assert.DeepEqual(t, lookup(t, spec, "properties", "note", "type"), []any{"string", "null"})
}

func TestCRDSchemasNone(t *testing.T) {
	_, err := crdSchemas([]byte("apiVersion: v1\nkind: ConfigMap\n"), testDefinitions(t), converter{})
	assert.ErrorContains(t, err, "no CustomResourceDefinition")
}

func TestLoadDefinitionsNotSwagger(t *testing.T) {
	_, err := loadDefinitions([]byte(`{"openapi": "3.0.0", "components": {}}`))
	assert.ErrorContains(t, err, "no definitions found")
}

func TestCacheKey(t *testing.T) {
	a := cacheKey("v1.37.2", defaultCRDs)
	assert.Assert(t, is.Regexp(`^kubernetes-v1\.37\.2-[0-9a-f]{12}$`, a))
	assert.Equal(t, a, cacheKey("v1.37.2", defaultCRDs))
	assert.Assert(t, a != cacheKey("v1.37.2", nil))
	assert.Assert(t, a != cacheKey("v1.36.3", defaultCRDs))
}

func TestParseCRDSource(t *testing.T) {
	module, path, err := parseCRDSource("example.com/m@v1.0.0=crds/a.yaml")
	assert.NilError(t, err)
	assert.Equal(t, module, "example.com/m@v1.0.0")
	assert.Equal(t, path, "crds/a.yaml")

	for _, bad := range []string{"example.com/m@v1.0.0", "example.com/m=crds/a.yaml", "example.com/m@v1="} {
		_, _, err := parseCRDSource(bad)
		assert.ErrorContains(t, err, "invalid CRD source", bad)
	}
}
