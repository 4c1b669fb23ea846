package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// InputError is a report folder that cannot be read: missing, or without a
// readable report.json. Path names the file or folder at fault.
type InputError struct {
	Path string
	Err  error
}

func (e *InputError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ReadFolder reads dir/report.json.
func ReadFolder(dir string) (Report, error) {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once, by InputError
		}
		return Report{}, &InputError{dir, fmt.Errorf("report folder: %w", err)}
	case !st.IsDir():
		return Report{}, &InputError{dir, errors.New("not a folder")}
	}
	path := filepath.Join(dir, "report.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.New("missing: not a chaosgate report folder")
		}
		return Report{}, &InputError{path, err}
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return Report{}, &InputError{path, fmt.Errorf("not a chaosgate report: %w", err)}
	}
	switch {
	case r.SchemaVersion == 0:
		return Report{}, &InputError{path, errors.New("not a chaosgate report: no schemaVersion")}
	case r.SchemaVersion > SchemaVersion:
		return Report{}, &InputError{path, fmt.Errorf("schemaVersion %d is newer than this chaosgate reads (%d)", r.SchemaVersion, SchemaVersion)}
	}
	return r, nil
}

// derived are the outputs rebuilt from report.json: what WriteFolder writes
// besides report.json itself (junit.xml is Ginkgo's and stays as it is).
var derived = map[string]func(io.Writer, Report) error{
	"summary.md":  WriteMarkdown,
	"report.html": WriteHTML,
}

// RenderFolder rebuilds every renderer's output in dir from dir/report.json,
// so an old run gets what an improved renderer draws. It returns the files
// written.
func RenderFolder(dir string) ([]string, error) {
	r, err := ReadFolder(dir)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, name := range slices.Sorted(maps.Keys(derived)) {
		path := filepath.Join(dir, name)
		if err := writeAtomic(path, func(w io.Writer) error { return derived[name](w, r) }); err != nil {
			return written, fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, path)
	}
	return written, nil
}
