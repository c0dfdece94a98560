package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestVersionedSchemaSetsVersionAndKeepsTheRest(t *testing.T) {
	in := []byte(`{
  "name": "kubernetes",
  "version": "0.0.1",
  "description": "a <b> & c",
  "resources": {"kubernetes:core/v1:ConfigMap": {"properties": {}}}
}`)
	out, err := versionedSchema(in, "4.34.2")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != "4.34.2" || got["name"] != "kubernetes" || got["description"] != "a <b> & c" {
		t.Fatalf("unexpected schema: %s", out)
	}
	if _, ok := got["resources"].(map[string]any)["kubernetes:core/v1:ConfigMap"]; !ok {
		t.Fatalf("resources lost: %s", out)
	}
	// Schema without a version gets one.
	out, err = versionedSchema([]byte(`{"name":"x"}`), "1.2.3")
	if err != nil || string(out) != `{"name":"x","version":"1.2.3"}` {
		t.Fatalf("got %s, %v", out, err)
	}
	if _, err := versionedSchema([]byte(`[1]`), "1"); err == nil {
		t.Fatal("a non-object schema must fail")
	}
	if _, err := versionedSchema([]byte(`null`), "1"); err == nil {
		t.Fatal("a null schema must fail")
	}
}

func TestRunWritesBothFiles(t *testing.T) {
	mod := t.TempDir()
	src := filepath.Join(mod, cmdDir)
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(src, "schema.json"), []byte("{\n \"name\": \"kubernetes\"\n}\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "terraform-mapping.json"), []byte("{\n \"a\": [1, 2]\n}\n"), 0o644))
	out := t.TempDir()
	must(run(mod, "4.34.2", out))
	s, err := os.ReadFile(filepath.Join(out, "schema-embed.json"))
	must(err)
	if string(s) != `{"name":"kubernetes","version":"4.34.2"}` {
		t.Fatalf("schema-embed.json: %s", s)
	}
	m, err := os.ReadFile(filepath.Join(out, "terraform-mapping-embed.json"))
	must(err)
	if string(m) != `{"a":[1,2]}` {
		t.Fatalf("terraform-mapping-embed.json: %s", m)
	}
	if err := run(mod, "", out); err == nil {
		t.Fatal("a missing version must fail")
	}
	if err := run(t.TempDir(), "1", out); err == nil {
		t.Fatal("a module without schema.json must fail")
	}
}
