package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
)

// StateFile is the name of the state file in the state directory.
const StateFile = "state.json"

// stateVersion changes when the file's meaning does; an agent refuses a
// version it does not know rather than guessing.
const stateVersion = 1

// Where the platform's address information came from.
const (
	SourceCenter    = "center"    // the registration center's bootstrap answer
	SourceOption148 = "option148" // DHCP option 148, verified with the preinstalled platform CA
)

// ErrCorruptState is wrapped by Load's error when the state file exists but
// cannot be trusted. The switch does not guess: the operator resets it
// (Reset, 'regcenter switch reset'), which is what a factory reset is for.
var ErrCorruptState = errors.New("agent: corrupt state file")

// State is everything a switch remembers across restarts. The zero value
// is a switch fresh from the factory (traditional mode, nothing known).
type State struct {
	Mode regcenter.Mode `json:"mode"`
	// In cloud mode: where the platform is and how to authenticate it,
	// exactly as the source gave them.
	Source      string              `json:"source,omitempty"`
	PlatformID  string              `json:"platform_id,omitempty"`
	Addresses   []regcenter.Address `json:"addresses,omitempty"`
	TrustAnchor string              `json:"trust_anchor,omitempty"`
	// Registration is the platform's answer, once the switch registered.
	Registration *Registration `json:"registration,omitempty"`
}

// Registration is the result of registering with the platform.
type Registration struct {
	PlatformID               string            `json:"platform_id"`
	Address                  regcenter.Address `json:"address"`
	RegisteredAt             time.Time         `json:"registered_at"`
	HeartbeatIntervalSeconds int               `json:"heartbeat_interval_seconds"`
}

type stateFile struct {
	Version int `json:"version"`
	State
}

// Load reads the state in dir. A directory or file that does not exist is
// a switch fresh from the factory. A file that does not decode, or
// describes an impossible state, is an error wrapping ErrCorruptState.
func Load(dir string) (State, error) {
	name := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return State{Mode: regcenter.ModeTraditional}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("agent: %w", err)
	}
	var f stateFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return State{}, corrupt(name, "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return State{}, corrupt(name, "data after the state object")
	}
	if f.Version != stateVersion {
		return State{}, corrupt(name, "version %d, this agent knows %d", f.Version, stateVersion)
	}
	if err := f.State.validate(); err != nil {
		return State{}, corrupt(name, "%v", err)
	}
	return f.State, nil
}

func corrupt(name, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s (a factory reset, 'regcenter switch reset', starts over)", ErrCorruptState, name, fmt.Sprintf(format, args...))
}

func (s State) validate() error {
	switch s.Mode {
	case regcenter.ModeTraditional:
		if s.Source != "" || len(s.Addresses) > 0 || s.TrustAnchor != "" || s.Registration != nil {
			return errors.New("traditional mode with a platform remembered")
		}
		return nil
	case regcenter.ModeCloud:
	default:
		return fmt.Errorf("mode %q", s.Mode)
	}
	if s.Source != SourceCenter && s.Source != SourceOption148 {
		return fmt.Errorf("source %q", s.Source)
	}
	if err := regcenter.ValidateAddresses(s.Addresses); err != nil {
		return err
	}
	if err := regcenter.ValidateTrustAnchor(s.TrustAnchor); err != nil {
		return err
	}
	if r := s.Registration; r != nil && r.HeartbeatIntervalSeconds <= 0 {
		return errors.New("registration without a heartbeat interval")
	}
	return nil
}

// Save replaces the state in dir (created 0700 if needed) atomically: a
// crash at any point leaves either the old state or the new one, never a
// mix, and the new one survives a power cut once Save returns.
func Save(dir string, s State) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("agent: refusing to save an invalid state: %w", err)
	}
	b, err := json.MarshalIndent(stateFile{Version: stateVersion, State: s}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := replaceFile(dir, StateFile, append(b, '\n')); err != nil {
		return fmt.Errorf("agent: saving state in %s: %w", dir, err)
	}
	return nil
}

// tempPrefix names Save's temporary files, so that Reset can sweep the
// leftovers of a crash.
const tempPrefix = "." + StateFile + ".tmp"

// replaceFile writes dir/name through a temporary file in the same
// directory (rename is atomic only within one file system), syncing the
// file before the rename and the directory after it, without which the
// rename itself may be lost in a power cut.
func replaceFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Reset is the factory reset: the switch in dir forgets its mode, its
// platform and its registration, and boots next in traditional mode. It
// removes only the agent's own files, so that a mistyped directory loses
// nothing else; a directory that does not exist is already reset.
func Reset(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: reset: %w", err)
	}
	for _, e := range entries {
		if e.Name() == StateFile || strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("agent: reset: %w", err)
			}
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("agent: reset: %w", err)
	}
	return nil
}
