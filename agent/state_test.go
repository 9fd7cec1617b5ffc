package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/centertest"
)

// cloudState is a complete state of a registered switch.
func cloudState(t *testing.T) agent.State {
	t.Helper()
	p := centertest.NewPKI(t)
	return agent.State{
		Mode: regcenter.ModeCloud, Source: agent.SourceCenter, PlatformID: "cmp-1",
		Addresses:   []regcenter.Address{{Host: "cmp.example.net", Port: 10030}, {Host: "192.0.2.7", Port: 443}},
		TrustAnchor: string(p.PlatformCA.CertPEM()),
		Registration: &agent.Registration{
			PlatformID: "cmp-1", Address: regcenter.Address{Host: "cmp.example.net", Port: 10030},
			RegisteredAt: time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC), HeartbeatIntervalSeconds: 15,
		},
	}
}

// dirEntries lists what is in dir, to prove that no temporary file is
// left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestStateFreshSwitchIsTraditional(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "never-made")} {
		s, err := agent.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, agent.State{Mode: regcenter.ModeTraditional}) {
			t.Errorf("%s: %+v, want a traditional switch that knows nothing", dir, s)
		}
	}
}

func TestStateSaveLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "switch")
	want := cloudState(t)
	if err := agent.Save(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := agent.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
	}
	if names := dirEntries(t, dir); !reflect.DeepEqual(names, []string{agent.StateFile}) {
		t.Errorf("state directory holds %v, want only %s", names, agent.StateFile)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", fi.Mode().Perm())
	}

	// A second save replaces the first whole.
	want.Registration = nil
	want.Addresses = want.Addresses[1:]
	if err := agent.Save(dir, want); err != nil {
		t.Fatal(err)
	}
	if got, err = agent.Load(dir); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after the second save: %+v, %v", got, err)
	}
}

func TestStateSaveRefusesImpossibleStates(t *testing.T) {
	dir := t.TempDir()
	full := cloudState(t)
	for _, tc := range []struct {
		name  string
		state agent.State
	}{
		{"no mode", agent.State{}},
		{"traditional with a platform", agent.State{Mode: regcenter.ModeTraditional, Addresses: full.Addresses}},
		{"cloud without addresses", agent.State{Mode: regcenter.ModeCloud, Source: agent.SourceCenter}},
		{"cloud without source", agent.State{Mode: regcenter.ModeCloud, Addresses: full.Addresses}},
		{"bad trust anchor", agent.State{Mode: regcenter.ModeCloud, Source: agent.SourceCenter, Addresses: full.Addresses, TrustAnchor: "not PEM"}},
	} {
		if err := agent.Save(dir, tc.state); err == nil {
			t.Errorf("%s: saved", tc.name)
		}
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("refused saves left %v", names)
	}
}

func TestStateCorruptFileIsAClearError(t *testing.T) {
	valid, err := os.ReadFile(saved(t, cloudState(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content, wantErr string }{
		{"empty", "", "EOF"},
		{"truncated", string(valid[:len(valid)/2]), "unexpected EOF"},
		{"not JSON", "mode=cloud\n", "invalid character"},
		{"two objects", string(valid) + `{"version":1}`, "data after the state object"},
		{"unknown field", strings.Replace(string(valid), `"version": 1,`, `"version": 1, "vlan": 7,`, 1), `unknown field "vlan"`},
		{"future version", strings.Replace(string(valid), `"version": 1,`, `"version": 2,`, 1), "version 2"},
		{"bad mode", strings.Replace(string(valid), `"mode": "cloud"`, `"mode": "hybrid"`, 1), `mode "hybrid"`},
		{"bad address", strings.Replace(string(valid), `"port": 10030`, `"port": 0`, 1), "port must be 1 to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, agent.StateFile), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := agent.Load(dir)
			if !errors.Is(err, agent.ErrCorruptState) {
				t.Fatalf("error %v, want ErrCorruptState", err)
			}
			for _, want := range []string{tc.wantErr, filepath.Join(dir, agent.StateFile), "switch reset"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// saved writes s into a new directory and returns the state file's path.
func saved(t *testing.T, s agent.State) string {
	t.Helper()
	dir := t.TempDir()
	if err := agent.Save(dir, s); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, agent.StateFile)
}

func TestResetForgetsEverything(t *testing.T) {
	file := saved(t, cloudState(t))
	dir := filepath.Dir(file)
	// What a crash in the middle of a save leaves, and a file that is not
	// the agent's.
	for name, content := range map[string]string{".state.json.tmp123": `{"vers`, "notes.txt": "rack 4"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := agent.Reset(dir); err != nil {
		t.Fatal(err)
	}
	s, err := agent.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, agent.State{Mode: regcenter.ModeTraditional}) {
		t.Errorf("after reset: %+v", s)
	}
	if names := dirEntries(t, dir); !reflect.DeepEqual(names, []string{"notes.txt"}) {
		t.Errorf("after reset the directory holds %v, want only the file that is not the agent's", names)
	}
	if err := agent.Reset(filepath.Join(dir, "absent")); err != nil {
		t.Errorf("reset of a directory that does not exist: %v", err)
	}
	// A corrupt state is what reset is for.
	if err := os.WriteFile(file, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := agent.Reset(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Load(dir); err != nil {
		t.Errorf("after resetting a corrupt state: %v", err)
	}
}
