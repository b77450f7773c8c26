package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
)

//go:embed guest.sh
var guestScript string

// Options are the knobs of one benchmark run.
type Options struct {
	Quick     bool     // smaller sizes, for a first look
	Targets   []string // subset of allTargets, in order
	Work      string   // host directory visible read-only in the guest; default /var/lib/zerofs-bench
	OutDir    string   // where the report goes; default docs/benchmarks
	Machine   string   // names the report; default the host name
	Network   string   // the nfsvm guest's network: tap or user; default tap where possible
	VersityGW string   // path of versitygw; default from PATH or ~/go/bin
	Files     int      // small-file count; default 1000 (200 with Quick)
	FIOSize   int64    // fio file size in bytes; default 256 MiB (32 MiB with Quick)
	FIORand   int64    // bytes of random 4 KiB I/O; default 32 MiB (4 MiB with Quick)
	Timeout   time.Duration
}

var allTargets = []string{"tmp", "zerofs-local", "zerofs-s3", "go-nfs", "s3fs", "rclone"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "guest" {
		if err := runGuest(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchfs:", err)
			os.Exit(1)
		}
		return
	}
	var o Options
	var targets string
	flag.BoolVar(&o.Quick, "quick", false, "smaller sizes (200 files, 32 MiB fio file)")
	flag.StringVar(&targets, "targets", strings.Join(allTargets, ","), "targets to run, in order")
	flag.StringVar(&o.Work, "work", "/var/lib/zerofs-bench", "host work directory (the guest reads it; must not be under /tmp, /run, /root or /var/tmp)")
	flag.StringVar(&o.OutDir, "out", "docs/benchmarks", "report directory")
	flag.StringVar(&o.Machine, "machine", "", "machine name in the report (default: host name)")
	flag.StringVar(&o.Network, "net", os.Getenv(nfsvm.NetworkEnv), "the nfsvm guest's network: tap or user (default: tap where possible)")
	flag.StringVar(&o.VersityGW, "versitygw", "", "versitygw binary (default: PATH, then ~/go/bin)")
	flag.IntVar(&o.Files, "files", 0, "files per small-file workload (default 1000, quick 200)")
	flag.Int64Var(&o.FIOSize, "fio-size", 0, "fio file size in bytes (default 256 MiB, quick 32 MiB)")
	flag.Int64Var(&o.FIORand, "fio-rand", 0, "bytes of random 4 KiB fio I/O (default 32 MiB, quick 4 MiB)")
	flag.DurationVar(&o.Timeout, "timeout", 0, "bound on one workload (default 15m, quick 5m)")
	flag.Parse()
	o.Targets = strings.Split(targets, ",")
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), log, o); err != nil {
		log.Error("benchfs failed", "err", err)
		os.Exit(1)
	}
}

func (o *Options) fillDefaults() error {
	def := func(v *int64, full, quick int64) {
		if *v == 0 {
			*v = full
			if o.Quick {
				*v = quick
			}
		}
	}
	files := int64(o.Files)
	def(&files, 1000, 200)
	o.Files = int(files)
	def(&o.FIOSize, 256<<20, 32<<20)
	def(&o.FIORand, 32<<20, 4<<20)
	to := int64(o.Timeout)
	def(&to, int64(15*time.Minute), int64(5*time.Minute))
	o.Timeout = time.Duration(to)
	if o.Machine == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		o.Machine = h
	}
	for _, t := range o.Targets {
		if !contains(allTargets, t) {
			return fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(allTargets, ", "))
		}
	}
	if o.VersityGW == "" {
		if p, err := exec.LookPath("versitygw"); err == nil {
			o.VersityGW = p
		} else {
			home, _ := os.UserHomeDir()
			o.VersityGW = filepath.Join(home, "go", "bin", "versitygw")
		}
	}
	for _, tool := range []string{"fio", "git", "tar", "s3fs", "rclone"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing on the host (the guest uses the host's tools): %w", tool, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func run(ctx context.Context, log *slog.Logger, o Options) error {
	if err := o.fillDefaults(); err != nil {
		return err
	}
	started := time.Now().UTC()
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	vm, err := nfsvm.Setup(ctx, nfsvm.SetupOptions{Cache: os.Getenv(nfsvm.CacheEnv), Log: log})
	if err != nil {
		return err
	}
	vm.Network = nfsvm.Network(o.Network)
	env, err := prepare(ctx, log, o, repo)
	if err != nil {
		return fmt.Errorf("preparing %s: %w", o.Work, err)
	}
	env.vm = vm
	defer env.stop()

	var results []Result
	costs := map[string]map[string]Cost{} // target -> workload -> cost
	for _, target := range o.Targets {
		log.Info("running target", "target", target)
		res, cost, err := runTarget(ctx, log, o, env, target)
		if err != nil {
			log.Error("target failed", "target", target, "err", err)
		}
		results = append(results, res...)
		if cost != nil {
			costs[target] = cost
		}
	}
	rep := Report{Options: o, Started: started, Finished: time.Now().UTC(), Results: results, Costs: costs, Notes: env.notes,
		RTT: env.rtt, RTTPad: env.rttPad, Profiles: env.profiles, Client: env.client}
	base := filepath.Join(o.OutDir, started.Format("2006-01-02")+"-"+o.Machine)
	if o.Quick {
		base += "-quick"
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	if err := writeChart(base+".png", rep); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(base+".md", []byte(rep.Markdown(filepath.Base(base)+".png")), 0o644); err != nil {
		return err
	}
	log.Info("report written", "markdown", base+".md", "chart", base+".png")
	return nil
}

// benchEnv is what every target shares: the work directory, versitygw and zerofsd.
type benchEnv struct {
	vm                           *nfsvm.VM
	work                         string
	s3Port, nfsPort, metricsPort int
	goNFSPort                    int // 0 unless the go-nfs target runs
	versity, zerofsd             *exec.Cmd
	tarFiles                     int
	notes                        []string
	rtt                          map[string]RTT                  // target -> NULL round trip measured in its guest
	rttPad                       map[string]RTT                  // target -> the same with two-segment calls
	profiles                     map[string]string               // target -> top of zerofsd's CPU profile during tar
	client                       map[string]map[string]ClientOps // target -> workload -> guest kernel's NFS calls
	stopFns                      []func()
}

func (e *benchEnv) stop() {
	for i := len(e.stopFns) - 1; i >= 0; i-- {
		e.stopFns[i]()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func runCmd(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// guestEnv is the environment nfsvm gives the guest (with GOCACHE in the
// work directory), so that the host warms the same build cache entries the
// guest will look up.
func guestEnv(gocache string) []string {
	return append(nfsvm.GuestEnv(), "GOCACHE="+gocache) // the last of a name wins
}

func prepare(ctx context.Context, log *slog.Logger, o Options, repo string) (*benchEnv, error) {
	e := &benchEnv{work: o.Work, rtt: map[string]RTT{}, rttPad: map[string]RTT{}, profiles: map[string]string{}, client: map[string]map[string]ClientOps{}}
	w := o.Work
	for _, d := range []string{"run", "gocache"} {
		_ = os.RemoveAll(filepath.Join(w, d))
	}
	_ = os.RemoveAll(filepath.Join(w, "mod"))
	if err := os.MkdirAll(filepath.Join(w, "run", "s3"), 0o755); err != nil {
		return nil, err
	}
	log.Info("building zerofsd and benchfs")
	if err := runCmd(ctx, repo, nil, "go", "build", "-o", filepath.Join(w, "zerofsd"), "./cmd/zerofsd"); err != nil {
		return nil, err
	}
	if err := runCmd(ctx, repo, nil, "go", "build", "-o", filepath.Join(w, "benchfs"), "./bench/fs"); err != nil {
		return nil, err
	}
	if contains(o.Targets, "go-nfs") {
		// Its own module (bench/gonfsref), so go-nfs never enters zerofsd's.
		if err := runCmd(ctx, filepath.Join(repo, "bench", "gonfsref"), nil, "go", "build", "-o", filepath.Join(w, "gonfsref"), "."); err != nil {
			return nil, err
		}
	}
	log.Info("making the source tarball and the module")
	if err := runCmd(ctx, "/usr/local/go/src", nil, "tar", "-cf", filepath.Join(w, "gosrc.tar"), "go"); err != nil {
		return nil, err
	}
	n, err := countFiles("/usr/local/go/src/go")
	if err != nil {
		return nil, err
	}
	e.tarFiles = n
	if err := writeModule(filepath.Join(w, "mod")); err != nil {
		return nil, err
	}
	log.Info("warming the build cache")
	if err := runCmd(ctx, filepath.Join(w, "mod"), guestEnv(filepath.Join(w, "gocache")), "go", "build", "-o", os.DevNull, "."); err != nil {
		return nil, err
	}

	if e.s3Port, err = freePort(); err != nil {
		return nil, err
	}
	if e.nfsPort, err = freePort(); err != nil {
		return nil, err
	}
	if e.metricsPort, err = freePort(); err != nil {
		return nil, err
	}
	s3dir := filepath.Join(w, "run", "s3")
	for _, b := range []string{"zerofs", "s3fs", "rclone"} {
		if err := os.MkdirAll(filepath.Join(s3dir, b), 0o755); err != nil {
			return nil, err
		}
	}
	vlog, err := os.Create(filepath.Join(w, "run", "versitygw.log"))
	if err != nil {
		return nil, err
	}
	e.versity = exec.Command(o.VersityGW, "--port", fmt.Sprintf("127.0.0.1:%d", e.s3Port), "--keep-alive", "--quiet", "posix", s3dir)
	e.versity.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=test", "ROOT_SECRET_ACCESS_KEY=testsecret")
	e.versity.Stdout, e.versity.Stderr = vlog, vlog
	if err := e.versity.Start(); err != nil {
		return nil, fmt.Errorf("starting versitygw: %w", err)
	}
	e.stopFns = append(e.stopFns, func() { stopProcess(e.versity) })
	if err := waitListening(ctx, e.s3Port); err != nil {
		return nil, fmt.Errorf("versitygw: %w (log %s)", err, vlog.Name())
	}

	cfg := fmt.Sprintf(`[server]
listen = "127.0.0.1:%d"
metrics_listen = "127.0.0.1:%d"
log_level = "warn"
portmapper = "off"

[cache]
dir = %q
size_gb = 4

[[exports]]
name = "local"
path = "/local"
store = "file://%s"
squash = "none"

[[exports]]
name = "s3"
path = "/s3"
store = "s3://zerofs/bench"
squash = "none"
[exports.s3]
endpoint = "http://127.0.0.1:%d"
allow_http = true
access_key_id = "test"
secret_access_key = "testsecret"
`, e.nfsPort, e.metricsPort, filepath.Join(w, "run", "cache"), filepath.Join(w, "run", "local-store"), e.s3Port)
	cfgPath := filepath.Join(w, "run", "zerofs.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	zlog, err := os.Create(filepath.Join(w, "run", "zerofsd.log"))
	if err != nil {
		return nil, err
	}
	e.zerofsd = exec.Command(filepath.Join(w, "zerofsd"), "run", "-c", cfgPath)
	e.zerofsd.Stdout, e.zerofsd.Stderr = zlog, zlog
	if err := e.zerofsd.Start(); err != nil {
		return nil, fmt.Errorf("starting zerofsd: %w", err)
	}
	e.stopFns = append(e.stopFns, func() { stopProcess(e.zerofsd) })
	if err := waitListening(ctx, e.nfsPort); err != nil {
		return nil, fmt.Errorf("zerofsd: %w (log %s)", err, zlog.Name())
	}
	if err := waitListening(ctx, e.metricsPort); err != nil {
		return nil, fmt.Errorf("zerofsd metrics: %w (log %s)", err, zlog.Name())
	}
	if contains(o.Targets, "go-nfs") {
		if err := e.startGoNFS(ctx); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// startGoNFS serves a fresh local directory with go-nfs (bench/gonfsref):
// the reference point of a straightforward NFS layer over a plain local
// filesystem, through the same guest and relays as zerofsd.
func (e *benchEnv) startGoNFS(ctx context.Context) error {
	dir := filepath.Join(e.work, "run", "go-nfs-dir")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	glog, err := os.Create(filepath.Join(e.work, "run", "go-nfs.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(e.work, "gonfsref"), "-listen", fmt.Sprintf("127.0.0.1:%d", port), "-dir", dir)
	cmd.Stdout, cmd.Stderr = glog, glog
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting gonfsref: %w", err)
	}
	e.stopFns = append(e.stopFns, func() { stopProcess(cmd) })
	if err := waitListening(ctx, port); err != nil {
		return fmt.Errorf("gonfsref: %w (log %s)", err, glog.Name())
	}
	e.goNFSPort = port
	return nil
}

func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func waitListening(ctx context.Context, port int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on 127.0.0.1:%d after 60 s", port)
}

// nfsTarget tells the targets mounted with the guest's NFS client.
func nfsTarget(target string) bool {
	return strings.HasPrefix(target, "zerofs-") || target == "go-nfs"
}

// clientOpsPerWorkload reads the mountstats snapshots the guest saved before
// and after each workload.
func clientOpsPerWorkload(outDir string) map[string]ClientOps {
	const mountpoint = "/tmp/nfs" // where nfsvm mounts $NFS
	per := map[string]ClientOps{}
	for _, w := range workloads {
		before, err1 := os.ReadFile(filepath.Join(outDir, w.Name+".before.mountstats"))
		after, err2 := os.ReadFile(filepath.Join(outDir, w.Name+".after.mountstats"))
		if err1 != nil || err2 != nil {
			continue
		}
		b, ok1 := parseMountstats(string(before), mountpoint)
		a, ok2 := parseMountstats(string(after), mountpoint)
		if ok1 && ok2 {
			per[w.Name] = a.Sub(b)
		}
	}
	return per
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// profileTop is the flat top of a CPU profile of zerofsd, as go tool pprof
// prints it.
func profileTop(ctx context.Context, binary, profile string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", binary, profile).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof %s: %w", profile, err)
	}
	return string(out), nil
}

func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	return n, err
}

// writeModule writes a small module of several packages that import each
// other and the standard library: what "go build" compiles in the guest.
func writeModule(dir string) error {
	const pkgs = 6
	files := map[string]string{"go.mod": "module benchmod\n\ngo 1.22\n"}
	var imports, calls strings.Builder
	for p := range pkgs {
		name := fmt.Sprintf("p%d", p)
		fmt.Fprintf(&imports, "\t\"benchmod/%s\"\n", name)
		fmt.Fprintf(&calls, "\tfmt.Println(%s.Summary(os.Args))\n", name)
		dep := ""
		depCall := "0"
		if p > 0 {
			dep = fmt.Sprintf("\t\"benchmod/p%d\"\n", p-1)
			depCall = fmt.Sprintf("len(p%d.Summary(words))", p-1)
		}
		for f := range 3 {
			files[filepath.Join(name, fmt.Sprintf("f%d.go", f))] = fmt.Sprintf(`package %[1]s

import (
	"sort"
	"strings"
%[3]s)

var _ = sort.Strings

// Words%[2]d splits and sorts its input.
func Words%[2]d(s string) []string {
	w := strings.Fields(s)
	sort.Strings(w)
	return w
}

// Count%[2]d counts distinct words.
func Count%[2]d(words []string) int {
	seen := map[string]bool{}
	for _, w := range words {
		seen[strings.ToLower(w)] = true
	}
	return len(seen) + %[4]s*0
}
`, name, f, dep, depCall)
		}
		files[filepath.Join(name, "summary.go")] = fmt.Sprintf(`package %s

import "fmt"

// Summary describes its arguments.
func Summary(words []string) string {
	return fmt.Sprintf("%%d words, %%d distinct, %%v", len(words), Count0(words), Words1(fmt.Sprint(words)))
}
`, name)
	}
	files["main.go"] = fmt.Sprintf("package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\n%s)\n\nfunc main() {\n%s}\n", imports.String(), calls.String())
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runTarget runs the guest script for one target and returns its results
// and, for a zerofsd target, the object-store cost of each workload.
func runTarget(ctx context.Context, log *slog.Logger, o Options, e *benchEnv, target string) ([]Result, map[string]Cost, error) {
	exportName, mport, nfsPort := "local", 0, e.nfsPort
	switch target {
	case "zerofs-local":
		mport = e.metricsPort
	case "zerofs-s3":
		exportName, mport = "s3", e.metricsPort
	case "go-nfs":
		exportName, nfsPort = "", e.goNFSPort
	}
	script := strings.NewReplacer(
		"@TARGET@", target, "@WORK@", e.work, "@S3PORT@", strconv.Itoa(e.s3Port), "@MPORT@", strconv.Itoa(mport),
		"@N@", strconv.Itoa(o.Files), "@FIOSIZE@", strconv.FormatInt(o.FIOSize, 10), "@FIORAND@", strconv.FormatInt(o.FIORand, 10),
		"@TARFILES@", strconv.Itoa(e.tarFiles), "@TIMEOUT@", strconv.Itoa(int(o.Timeout.Seconds())),
	).Replace(guestScript)
	scriptPath := filepath.Join(e.work, "run", "guest-"+target+".sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		return nil, nil, err
	}
	outDir := filepath.Join(e.work, "run", "out-"+target)
	_ = os.RemoveAll(outDir)
	vmCtx, cancel := context.WithTimeout(ctx, o.Timeout*time.Duration(len(workloads))+10*time.Minute)
	defer cancel()
	var output bytes.Buffer
	res, runErr := e.vm.Run(vmCtx, script, nfsvm.RunOptions{Port: nfsPort, Export: "/" + exportName,
		Forward: []int{e.s3Port, e.metricsPort}, OutDir: outDir, MemoryMB: 3072, Output: &output})
	log.Info("target finished", "target", target, "nfsvm", res.String())
	out := output.Bytes()
	_ = os.WriteFile(filepath.Join(e.work, "run", "console-"+target+".txt"), out, 0o644)
	results, notes := parseOutput(string(out))
	e.notes = append(e.notes, target+" nfsvm: "+res.String())
	e.notes = append(e.notes, notes...)
	if rtt, ok := parseRTT(string(out), target, false); ok {
		e.rtt[target] = rtt
	}
	if rtt, ok := parseRTT(string(out), target, true); ok {
		e.rttPad[target] = rtt
	}
	if prof := filepath.Join(outDir, "tar.pprof"); fileExists(prof) {
		top, err := profileTop(ctx, filepath.Join(e.work, "zerofsd"), prof)
		if err != nil {
			log.Warn("reading the CPU profile", "target", target, "err", err)
		} else {
			e.profiles[target] = top
		}
	}
	results = completeResults(target, results, runErr)
	if runErr != nil {
		runErr = fmt.Errorf("nfsvm for %s: %w", target, runErr)
	}
	if nfsTarget(target) {
		e.client[target] = clientOpsPerWorkload(outDir)
	}
	if mport == 0 {
		return results, nil, runErr
	}
	costs := map[string]Cost{}
	for _, w := range workloads {
		before, err1 := os.ReadFile(filepath.Join(outDir, w.Name+".before"))
		after, err2 := os.ReadFile(filepath.Join(outDir, w.Name+".after"))
		if err := errors.Join(err1, err2); err != nil {
			continue
		}
		costs[w.Name] = parseMetrics(string(after), exportName).Sub(parseMetrics(string(before), exportName))
	}
	return results, costs, runErr
}
