package reports

import (
	"encoding/json"
	"os"
	"sync"
)

// JSONLines appends one JSON value per line to a file, unbuffered, so every
// line is on disk as soon as Write returns (a crash leaves all earlier
// lines). Safe for concurrent use.
type JSONLines struct {
	mu sync.Mutex
	f  *os.File
}

// CreateJSONLines creates (truncates) path.
func CreateJSONLines(path string) (*JSONLines, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &JSONLines{f: f}, nil
}

// Write appends v as one line.
func (j *JSONLines) Write(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err = j.f.Write(append(data, '\n'))
	return err
}

// Close closes the file.
func (j *JSONLines) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}
