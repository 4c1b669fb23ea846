package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// goEnv is the environment of every Go build here: static binaries, the
// local toolchain only, no workspace from the caller's folder. (GOGC=400,
// which took 14% of the unit phase's CPU off, made no difference here: the
// Kubernetes binaries took 9m07s with it and 9m04s without, cold, the same
// hour.)
var goEnv = []string{"CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false"}

// moduleInfo is what `go mod download -json` prints for one module.
type moduleInfo struct {
	Path, Version, Dir, GoMod, Error string
}

func downloadModule(ctx context.Context, mod string) (moduleInfo, error) {
	out, err := cmd("go", "mod", "download", "-json", mod).withEnv("GOWORK=off", "GOFLAGS=-mod=mod").run(ctx)
	var info moduleInfo
	if jerr := json.Unmarshal([]byte(out), &info); jerr != nil {
		if err != nil {
			return info, fmt.Errorf("go mod download %s: %w", mod, err)
		}
		return info, fmt.Errorf("go mod download %s: decode: %w", mod, jerr)
	}
	if info.Error != "" {
		return info, fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	if err != nil {
		return info, fmt.Errorf("go mod download %s: %w", mod, err)
	}
	return info, nil
}

// localReplaces returns the module paths that a go.mod replaces with
// folders of the same repository (k8s.io/kubernetes => ./staging/...,
// etcd's server => ../api). Such a module cannot be built with
// `go install mod@version`; a wrapper module replacing each of them with its
// published version can. Replaces whose path cannot carry that version
// (etcd's guards against forbidden imports) are left out.
func localReplaces(gomod []byte, version string) ([]string, error) {
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range f.Replace {
		local := strings.HasPrefix(r.New.Path, "./") || strings.HasPrefix(r.New.Path, "../")
		if r.New.Version != "" || !local || strings.Contains(r.New.Path, "FORBIDDEN") {
			continue
		}
		_, major, ok := module.SplitPathVersion(r.Old.Path)
		if !ok || module.CheckPathMajor(version, major) != nil {
			continue
		}
		out = append(out, r.Old.Path)
	}
	return out, nil
}

// wrapperGoMod writes the go.mod of a module that requires mod@version and
// replaces each of replaced with itself at replaceVersion.
func wrapperGoMod(mod, version string, replaced []string, replaceVersion string) ([]byte, error) {
	f := &modfile.File{}
	if err := f.AddModuleStmt("chaosgate.local/build/" + filepath.Base(mod)); err != nil {
		return nil, err
	}
	if err := f.AddGoStmt("1.24.0"); err != nil {
		return nil, err
	}
	if err := f.AddRequire(mod, version); err != nil {
		return nil, err
	}
	for _, p := range replaced {
		if err := f.AddReplace(p, "", p, replaceVersion); err != nil {
			return nil, err
		}
	}
	return f.Format()
}

// kubeVersionLDFlags stamps the version into Kubernetes binaries. kubeadm
// reads it to pick control-plane images and refuses unstamped builds.
func kubeVersionLDFlags(version string) (string, error) {
	major, minor, ok := parseMajorMinor(version)
	if !ok {
		return "", fmt.Errorf("kubernetes version %q is not of the form vMAJOR.MINOR.PATCH", version)
	}
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+version,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
			// fixed, so that rebuilding the same inputs gives the same binary
			"-X", pkg+".buildDate=1970-01-01T00:00:00Z",
		)
	}
	return strings.Join(flags, " "), nil
}

func parseMajorMinor(v string) (major, minor string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if !strings.HasPrefix(v, "v") || len(parts) != 3 {
		return "", "", false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return "", "", false
		}
	}
	return parts[0], parts[1], true
}

// buildWrapped builds packages of a module that uses in-repo replaces,
// through a generated wrapper module, into out.
func buildWrapped(ctx context.Context, work, mod, version, replaceVersion, ldflags string, pkgs []string, out string) error {
	info, err := downloadModule(ctx, mod+"@"+version)
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		return err
	}
	replaced, err := localReplaces(gomod, replaceVersion)
	if err != nil {
		return fmt.Errorf("parse %s go.mod: %w", mod, err)
	}
	wrapper, err := wrapperGoMod(mod, version, replaced, replaceVersion)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), wrapper, 0o644); err != nil {
		return err
	}
	getArgs := []string{"get"}
	for _, p := range pkgs {
		getArgs = append(getArgs, p+"@"+version)
	}
	if _, err := cmd("go", getArgs...).inDir(work).withEnv(goEnv...).run(ctx); err != nil {
		return err
	}
	args := append([]string{"build", "-trimpath", "-ldflags", ldflags, "-o", out + "/"}, pkgs...)
	_, err = cmd("go", args...).inDir(work).withEnv(goEnv...).run(ctx)
	return err
}

// goInstall builds a main package at a version into out.
func goInstall(ctx context.Context, pkgAtVersion, ldflags, out string) error {
	_, err := cmd("go", "install", "-trimpath", "-ldflags", ldflags, pkgAtVersion).withEnv(goEnv...).withEnv("GOBIN=" + out).run(ctx)
	return err
}

// goVersion identifies the toolchain; it is part of every Go stage's key.
func goVersion(ctx context.Context) (string, error) {
	out, err := cmd("go", "env", "GOVERSION").withEnv("GOTOOLCHAIN=local").run(ctx)
	return strings.TrimSpace(out), err
}
