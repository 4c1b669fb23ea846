package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Journal keeps one file per active fault in a folder, written before the
// fault is applied and removed once it is reverted. Whatever is left after
// a crash is what `chaosgate recover` undoes.
type Journal struct {
	Dir string
}

// Entry is one active fault in the journal.
type Entry struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Description string   `json:"description"`
	Targets     []string `json:"targets"`
	Cluster     string   `json:"cluster"`
	// Context is the kubeconfig context the fault was injected through:
	// how recovery reaches a cluster that is not a local kind cluster.
	Context string `json:"context,omitempty"`
	// Server is the API server the context reached then.
	Server  string          `json:"server,omitempty"`
	Created time.Time       `json:"created"`
	State   json.RawMessage `json:"state"`
}

// DefaultJournalDir is $CHAOSGATE_STATE/journal, or under the user's state
// folder.
func DefaultJournalDir() string {
	if d := os.Getenv("CHAOSGATE_STATE"); d != "" {
		return filepath.Join(d, "journal")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "chaosgate", "journal")
	}
	return filepath.Join(os.TempDir(), "chaosgate-journal")
}

func (j Journal) path(id string) string { return filepath.Join(j.Dir, id+".json") }

// Add writes the entry durably (fsync'ed, atomic rename).
func (j Journal) Add(e Entry) error {
	if strings.ContainsAny(e.ID, `/\`) || e.ID == "" {
		return fmt.Errorf("journal: bad id %q", e.ID)
	}
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp := j.path(e.ID) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path(e.ID)); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return syncDir(j.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Remove deletes an entry; removing a missing entry is not an error.
func (j Journal) Remove(id string) error {
	err := os.Remove(j.path(id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Entries lists the active faults, oldest first. Unreadable files are
// reported as errors, not skipped: a fault we cannot read is one we cannot
// undo.
func (j Journal) Entries() ([]Entry, error) {
	files, err := filepath.Glob(filepath.Join(j.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var e Entry
		if err := json.Unmarshal(data, &e); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		if e.ID == "" || e.Kind == "" {
			errs = append(errs, fmt.Errorf("%s: not a journal entry (no id or kind)", f))
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out, errors.Join(errs...)
}

// Reverter undoes a journaled fault from its stored state. It returns a
// *TargetGoneError when the target no longer exists.
type Reverter func(ctx context.Context, e Entry) error

// Outcome is what Recover did with one entry.
type Outcome struct {
	Entry Entry
	// Discarded is true when the target no longer existed: nothing was
	// reverted, and the entry was removed.
	Discarded bool
	Reason    string
}

// Recover reverts the journaled faults for which keep returns true (nil:
// all), newest first, with the reverter registered for each kind, and
// removes the entries it reverted or found nothing left to revert for (the
// target is gone). It returns what it did and an error naming each entry
// it could not revert; those stay in the journal.
func (j Journal) Recover(ctx context.Context, reverters map[string]Reverter, keep func(Entry) bool) ([]Outcome, error) {
	entries, listErr := j.Entries()
	var done []Outcome
	errs := []error{listErr}
	for k := len(entries) - 1; k >= 0; k-- {
		e := entries[k]
		if keep != nil && !keep(e) {
			continue
		}
		rev, ok := reverters[e.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no reverter for fault kind %q", e.ID, e.Kind))
			continue
		}
		out := Outcome{Entry: e}
		if err := rev(ctx, e); err != nil {
			var gone *TargetGoneError
			if !errors.As(err, &gone) {
				errs = append(errs, fmt.Errorf("%s (%s): %w", e.ID, e.Description, err))
				continue
			}
			out.Discarded, out.Reason = true, gone.Error()
		}
		if err := j.Remove(e.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, out)
	}
	return done, errors.Join(errs...)
}

// Discard removes the entries for which match returns true without
// reverting anything (their cluster is gone), and returns them.
func (j Journal) Discard(match func(Entry) bool) ([]Entry, error) {
	entries, err := j.Entries()
	var out []Entry
	for _, e := range entries {
		if !match(e) {
			continue
		}
		if rerr := j.Remove(e.ID); rerr != nil {
			err = errors.Join(err, rerr)
			continue
		}
		out = append(out, e)
	}
	return out, err
}
