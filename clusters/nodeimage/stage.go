package nodeimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Key is the content key of a stage: a hash over everything the stage's
// output depends on. Equal keys mean the cached output can be reused.
type Key string

// Short returns the first 12 hex digits, enough for tags and folder names.
func (k Key) Short() string {
	if len(k) < 12 {
		return string(k)
	}
	return string(k[:12])
}

// KeyOf hashes the stage name and its inputs. Inputs are "name=value" pairs
// so that reordering the call sites cannot change a key silently; they are
// sorted before hashing.
func KeyOf(stage string, inputs map[string]string) Key {
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "stage=%s\n", stage)
	for _, n := range names {
		// length-prefix values so "a=b\nc" and "a=b", "c" cannot collide
		fmt.Fprintf(h, "%s=%d:%s\n", n, len(inputs[n]), inputs[n])
	}
	return Key(hex.EncodeToString(h.Sum(nil)))
}

// HashFiles hashes the contents and relative paths of every regular file
// under root (or root itself when it is a file).
func HashFiles(root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %o %d\n", filepath.ToSlash(rel), info.Mode().Perm()&0o111, info.Size())
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileStage is a stage whose output is a folder of files in the cache.
// A folder is complete once it holds the marker file; outputs are built in a
// temporary folder and renamed into place, so an interrupted build never
// leaves a folder that looks complete.
type fileStage struct {
	name  string
	key   Key
	build func(ctx context.Context, out string) error
}

const doneMarker = ".chaosgate-complete"

// progress prints stage lines and, for long steps, a line with the elapsed
// time every interval, so a user of a 10-minute build sees it is alive.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	interval time.Duration
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// step runs fn as a named step, printing start, periodic elapsed time and
// the result.
func (p *progress) step(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	start := time.Now()
	p.printf(" • %s ...", name)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.printf("   %s: %s elapsed", name, time.Since(start).Round(time.Second))
			}
		}
	}()
	err := fn(ctx)
	close(done)
	if err != nil {
		p.printf(" ✗ %s failed after %s", name, time.Since(start).Round(time.Second))
		return fmt.Errorf("%s: %w", name, err)
	}
	p.printf(" ✓ %s (%s)", name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// runFileStage returns the cached output folder of s, building it first
// when the cache has no complete folder for its key.
func (b *builder) runFileStage(ctx context.Context, s fileStage) (string, error) {
	dir := filepath.Join(b.opts.CacheDir, "stages", slug(s.name)+"-"+s.key.Short())
	if _, err := os.Stat(filepath.Join(dir, doneMarker)); err == nil {
		b.progress.printf(" ✓ %s (cached %s)", s.name, s.key.Short())
		return dir, nil
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	err := b.progress.step(ctx, s.name, func(ctx context.Context) error { return s.build(ctx, tmp) })
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, doneMarker), []byte(string(s.key)+"\n"), 0o644); err != nil {
		return "", err
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// imageStage is a stage whose output is a Docker image; the image carries
// its key in a label, so the local image store is the cache.
type imageStage struct {
	name  string
	tag   string
	key   Key
	build func(ctx context.Context) error
}

func (b *builder) runImageStage(ctx context.Context, s imageStage) error {
	if HasKey(ctx, s.tag, string(s.key)) {
		b.progress.printf(" ✓ %s (cached %s)", s.name, s.tag)
		return nil
	}
	return b.progress.step(ctx, s.name, s.build)
}

// tail returns the last n lines of s, for error messages from long outputs.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// slug makes a stage name usable as a folder name.
func slug(name string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '.'
		if ok {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(sb.String(), "-")
}
