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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zerofs-go/zerofsd/internal/nfsvm"
	"github.com/zerofs-go/zerofsd/internal/s3proxy"
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
	// S3Latency is added by the proxy in front of versitygw to every
	// request of every S3 target; zero by default.
	S3Latency s3proxy.Latency
	Workloads []string // subset of workloads, in their order; default all
	Command   string   // the command line, for the report
	Files     int      // small-file count; default 1000 (200 with Quick)
	FIOSize   int64    // fio file size in bytes; default 256 MiB (32 MiB with Quick)
	FIORand   int64    // bytes of random 4 KiB I/O; default 32 MiB (4 MiB with Quick)
	Timeout   time.Duration
	// Rounds is how many times every target runs, interleaved (see
	// roundOrders), each time from scratch; default 1.
	Rounds int
	// GuestCPUs is the guest's CPU count; default 2.
	GuestCPUs int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "guest" {
		if err := runGuest(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchfs:", err)
			os.Exit(1)
		}
		return
	}
	var o Options
	var targets, workloadList, latency string
	flag.BoolVar(&o.Quick, "quick", false, "smaller sizes (200 files, 32 MiB fio file)")
	flag.StringVar(&targets, "targets", strings.Join(targetNames(), ","), "targets to run, in order")
	flag.StringVar(&workloadList, "workloads", "", "workloads to run (default all; the ones they need are added): "+strings.Join(workloadNames(), ","))
	flag.StringVar(&latency, "s3-latency", "none", "latency the proxy in front of the S3 server adds per request method, e.g. "+
		s3proxy.RegionLatency+" (a real region: 20 ms per PUT/POST/DELETE, 10 ms per GET/HEAD); head takes get's, post and delete put's unless given")
	flag.StringVar(&o.Work, "work", "/var/lib/zerofs-bench", "host work directory (the guest reads it; must not be under /tmp, /run, /root or /var/tmp)")
	flag.StringVar(&o.OutDir, "out", "docs/benchmarks", "report directory")
	flag.StringVar(&o.Machine, "machine", "", "machine name in the report (default: host name)")
	flag.StringVar(&o.Network, "net", os.Getenv(nfsvm.NetworkEnv), "the nfsvm guest's network: tap or user (default: tap where possible; user stalls ~40 ms on every request over one TCP segment)")
	flag.StringVar(&o.VersityGW, "versitygw", "", "versitygw binary (default: PATH, then ~/go/bin)")
	flag.IntVar(&o.Files, "files", 0, "files per small-file workload (default 1000, quick 200)")
	flag.Int64Var(&o.FIOSize, "fio-size", 0, "fio file size in bytes (default 256 MiB, quick 32 MiB)")
	flag.Int64Var(&o.FIORand, "fio-rand", 0, "bytes of random 4 KiB fio I/O (default 32 MiB, quick 4 MiB)")
	flag.DurationVar(&o.Timeout, "timeout", 0, "bound on one workload (default 15m, quick 5m)")
	flag.IntVar(&o.GuestCPUs, "guest-cpus", 2, "the guest's CPUs (each an emulated CPU, a host thread when busy)")
	flag.IntVar(&o.Rounds, "rounds", 1, "times every target runs, interleaved, each from scratch; the report gives medians and ranges")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.Targets = strings.Split(targets, ",")
	o.Command = strings.Join(append([]string{"go run ./bench/fs"}, os.Args[1:]...), " ")
	var err error
	if o.S3Latency, err = s3proxy.ParseLatency(latency); err != nil {
		log.Error("benchfs: -s3-latency", "err", err)
		os.Exit(2)
	}
	if o.Workloads, err = selectWorkloads(workloadList); err != nil {
		log.Error("benchfs: -workloads", "err", err)
		os.Exit(2)
	}
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
	switch {
	case o.Rounds == 0:
		o.Rounds = 1
	case o.Rounds < 0:
		return fmt.Errorf("-rounds %d: want at least 1", o.Rounds)
	}
	switch {
	case o.GuestCPUs == 0:
		o.GuestCPUs = 2
	case o.GuestCPUs < 0:
		return fmt.Errorf("-guest-cpus %d: want at least 1", o.GuestCPUs)
	}
	if o.Machine == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		o.Machine = h
	}
	for _, t := range o.Targets {
		if _, ok := targetByName(t); !ok {
			return fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(targetNames(), ", "))
		}
	}
	if len(o.Workloads) == 0 {
		o.Workloads = workloadNames()
	}
	switch nfsvm.Network(o.Network) {
	case nfsvm.NetAuto, nfsvm.NetTap, nfsvm.NetUser:
	default:
		return fmt.Errorf("-net %q: want tap or user", o.Network)
	}
	if o.VersityGW == "" {
		if p, err := exec.LookPath("versitygw"); err == nil {
			o.VersityGW = p
		} else {
			home, _ := os.UserHomeDir()
			o.VersityGW = filepath.Join(home, "go", "bin", "versitygw")
		}
	}
	for _, tool := range o.hostTools() {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing on the host (the guest uses the host's tools): %w", tool, err)
		}
	}
	return nil
}

// hostTools are the programs of this host the guest runs for the chosen
// targets and workloads.
func (o *Options) hostTools() []string {
	tools := []string{"tar"} // the host makes the tarball
	for _, w := range o.Workloads {
		switch {
		case strings.HasPrefix(w, "fio-") || w == "cold-seqread" || w == "cold-randread":
			tools = append(tools, "fio")
		case w == "git":
			tools = append(tools, "git")
		}
	}
	for _, t := range o.Targets {
		if t == "s3fs" || t == "rclone" {
			tools = append(tools, t)
		}
	}
	slices.Sort(tools)
	return slices.Compact(tools)
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

	orders := roundOrders(o.Targets, o.Rounds)
	var runs []targetRun
	for round, order := range orders {
		for _, target := range order {
			log.Info("running target", "target", target, "round", round+1, "of", o.Rounds)
			tr, err := runTarget(ctx, log, o, env, target, round)
			if err != nil {
				log.Error("target failed", "target", target, "round", round+1, "err", err)
			}
			runs = append(runs, tr)
			if round < o.Rounds-1 {
				// The last round's data stays for a look; the others'
				// would only fill the disk.
				if err := env.discard(instanceName(target, round)); err != nil {
					log.Warn("removing the data of a round", "target", target, "round", round+1, "err", err)
				}
			}
		}
	}
	rep := assemble(o, orders, runs)
	rep.Started, rep.Finished = started, time.Now().UTC()
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

// benchEnv is what every target shares: the work directory, versitygw, the
// latency proxy in front of it, the control service, and the zerofsd of
// each zerofsd target in each round.
type benchEnv struct {
	vm          *nfsvm.VM
	work        string
	s3Port      int // the latency proxy's: every S3 client's endpoint
	controlPort int // the control service (proxy counters, cold restarts)
	versity     *exec.Cmd
	proxy       *s3proxy.Proxy
	control     *control
	daemons     map[string]*daemon // zerofsd target's instance (instanceName) -> its daemon (not started)
	refused     map[string]error   // zerofsd target's instance -> why its config was refused
	placeholder *daemon            // what nfsvm mounts for targets that use no NFS mount
	tarFiles    int
	stopFns     []func()
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
	e := &benchEnv{work: o.Work, daemons: map[string]*daemon{}, refused: map[string]error{}}
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

	// versitygw, the latency proxy in front of it and the control service
	// start first: a zerofsd config names the proxy's endpoint, and each is
	// checked now, so that a config this zerofsd refuses is known at once.
	s3dir := filepath.Join(w, "run", "s3")
	for round := range o.Rounds {
		for _, t := range o.Targets {
			if spec, _ := targetByName(t); spec.S3 {
				if err := os.MkdirAll(filepath.Join(s3dir, instanceName(t, round)), 0o755); err != nil { // the target's bucket in that round
					return nil, err
				}
			}
		}
	}
	versityPort, err := freePort()
	if err != nil {
		return nil, err
	}
	vlog, err := os.Create(filepath.Join(w, "run", "versitygw.log"))
	if err != nil {
		return nil, err
	}
	e.versity = exec.Command(o.VersityGW, "--port", fmt.Sprintf("127.0.0.1:%d", versityPort), "--keep-alive", "--quiet", "posix", s3dir)
	e.versity.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=test", "ROOT_SECRET_ACCESS_KEY=testsecret")
	e.versity.Stdout, e.versity.Stderr = vlog, vlog
	if err := e.versity.Start(); err != nil {
		return nil, fmt.Errorf("starting versitygw: %w", err)
	}
	e.stopFns = append(e.stopFns, func() { _ = stopProcess(e.versity) })
	if err := waitListening(ctx, versityPort); err != nil {
		return nil, fmt.Errorf("versitygw: %w (log %s)", err, vlog.Name())
	}
	e.proxy, err = s3proxy.Start(s3proxy.Options{Upstream: fmt.Sprintf("http://127.0.0.1:%d", versityPort), Latency: o.S3Latency})
	if err != nil {
		return nil, err
	}
	e.stopFns = append(e.stopFns, func() { _ = e.proxy.Close() })
	e.s3Port = e.proxy.Port()
	log.Info("S3 latency proxy", "endpoint", e.proxy.Endpoint(), "latency", o.S3Latency.String())
	e.control = &control{log: log, metrics: e.proxy.ServeMetrics}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	csrv := &http.Server{Handler: e.control.handler()}
	go func() { _ = csrv.Serve(cl) }()
	e.stopFns = append(e.stopFns, func() { _ = csrv.Close() })
	e.controlPort = cl.Addr().(*net.TCPAddr).Port

	for round := range o.Rounds {
		for _, t := range o.Targets {
			spec, _ := targetByName(t)
			if !spec.Zerofs() {
				continue
			}
			inst := instanceName(t, round)
			d, err := newDaemon(ctx, w, spec, inst, e.proxy.Endpoint())
			if err != nil {
				log.Error("target will fail", "target", t, "round", round+1, "err", err)
				e.refused[inst] = err
				continue
			}
			e.daemons[inst] = d
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
	if contains(o.Workloads, "gobuild") {
		log.Info("warming the build cache")
		if err := runCmd(ctx, filepath.Join(w, "mod"), guestEnv(filepath.Join(w, "gocache")), "go", "build", "-o", os.DevNull, "."); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(o.Targets, func(t string) bool { return t == "tmp" || t == "s3fs" || t == "rclone" }) {
		// What nfsvm mounts for the targets that use no NFS mount: a
		// zerofsd on a memory store that nothing touches.
		d, err := newDaemon(ctx, w, Target{Name: "unused-mount", Store: "memory", Sync: "commit"}, "unused-mount", "")
		if err != nil {
			return nil, err
		}
		if err := d.start(ctx); err != nil {
			return nil, err
		}
		e.stopFns = append(e.stopFns, func() { _ = d.stop() })
		e.placeholder = d
	}
	return e, nil
}

// startGoNFS serves a fresh local directory with go-nfs (bench/gonfsref),
// for the go-nfs target's instance (instanceName): the reference point of
// a straightforward NFS layer over a plain local filesystem, through the
// same guest and relays as zerofsd. It returns the NFS port and how to
// stop the server.
func (e *benchEnv) startGoNFS(ctx context.Context, instance string) (port int, stop func(), err error) {
	dir := goNFSDir(e.work, instance)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, err
	}
	if port, err = freePort(); err != nil {
		return 0, nil, err
	}
	glog, err := os.Create(filepath.Join(e.work, "run", instance+".log"))
	if err != nil {
		return 0, nil, err
	}
	defer glog.Close() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(e.work, "gonfsref"), "-listen", fmt.Sprintf("127.0.0.1:%d", port), "-dir", dir)
	cmd.Stdout, cmd.Stderr = glog, glog
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("starting gonfsref: %w", err)
	}
	stop = func() { _ = stopProcess(cmd) }
	if err := waitListening(ctx, port); err != nil {
		stop()
		return 0, nil, fmt.Errorf("gonfsref: %w (log %s)", err, glog.Name())
	}
	return port, stop, nil
}

// goNFSDir is the directory go-nfs serves for one instance of its target.
func goNFSDir(work, instance string) string { return filepath.Join(work, "run", instance+"-dir") }

// discard removes the data one target's instance wrote (its store, cache
// and journal, its bucket, go-nfs's directory); its logs and the guest's
// output stay.
func (e *benchEnv) discard(instance string) error {
	run := filepath.Join(e.work, "run")
	var errs []error
	for _, p := range []string{
		storeDir(run, instance), cacheDir(run, instance), journalDir(run, instance),
		filepath.Join(run, "s3", instance), goNFSDir(e.work, instance),
	} {
		errs = append(errs, os.RemoveAll(p))
	}
	return errors.Join(errs...)
}

// stopProcess interrupts cmd (a clean shutdown) and waits for it, killing
// it after two minutes; it returns how it ended.
func stopProcess(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("killed: still running 2 minutes after SIGINT")
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

// targetRun is what one round of one target measured.
type targetRun struct {
	target  string
	round   int      // 0-based
	results []Result // one per selected workload, each with this round
	// For a zerofsd target, the object-store cost and NFS calls of each
	// workload from zerofsd's metrics.
	costs map[string]Cost
	// For an S3 target, the requests the latency proxy saw in this
	// round's bucket during each workload, under the target's name.
	s3          map[string]s3proxy.Stats
	client      map[string]ClientOps // for an NFS target, the guest kernel's NFS calls per workload
	rtt, rttPad *RTT                 // the NULL round trips measured in the guest, if it did
	profile     string               // the top of zerofsd's CPU profile during tar, if taken
	network     string               // the guest's network mode, if the guest ran
	notes       []string
}

// runTarget runs the guest script for one round (0-based) of one target,
// from scratch: its zerofsd or go-nfs of that round (instanceName), on
// their own store and bucket, in a fresh guest.
func runTarget(ctx context.Context, log *slog.Logger, o Options, e *benchEnv, target string, round int) (tr targetRun, err error) {
	spec, _ := targetByName(target)
	inst := instanceName(target, round)
	tr = targetRun{target: target, round: round}
	defer func() {
		for i := range tr.results {
			tr.results[i].Round = round
		}
	}()
	if err := e.refused[inst]; err != nil {
		tr.results = completeResults(target, o.Workloads, nil, "not run: "+err.Error())
		return tr, err
	}
	exportPath, mport, nfsPort := "/", 0, 0
	switch {
	case spec.Zerofs():
		d := e.daemons[inst]
		if err := d.start(ctx); err != nil {
			_ = d.stop()
			tr.results = completeResults(target, o.Workloads, nil, "not run: "+err.Error())
			return tr, err
		}
		e.control.setCurrent(d)
		defer func() {
			e.control.setCurrent(nil)
			if err := d.stop(); err != nil {
				log.Error("stopping zerofsd", "target", target, "round", round+1, "err", err)
				tr.notes = append(tr.notes, target+" "+err.Error())
			}
		}()
		exportPath, mport, nfsPort = "/"+exportName, d.metricsPort, d.nfsPort
	case target == "go-nfs":
		port, stop, err := e.startGoNFS(ctx, inst)
		if err != nil {
			tr.results = completeResults(target, o.Workloads, nil, "not run: "+err.Error())
			return tr, err
		}
		defer stop()
		nfsPort = port
	default:
		// tmp, s3fs and rclone use no NFS mount; nfsvm mounts one anyway.
		exportPath, nfsPort = "/"+exportName, e.placeholder.nfsPort
	}
	script := strings.NewReplacer(
		"@TARGET@", target, "@BUCKET@", inst, "@WORK@", e.work, "@S3PORT@", strconv.Itoa(e.s3Port), "@MPORT@", strconv.Itoa(mport),
		"@CPORT@", strconv.Itoa(e.controlPort), "@WORKLOADS@", strings.Join(o.Workloads, " "), "@S3@", map[bool]string{true: "1", false: "0"}[spec.S3],
		"@N@", strconv.Itoa(o.Files), "@FIOSIZE@", strconv.FormatInt(o.FIOSize, 10), "@FIORAND@", strconv.FormatInt(o.FIORand, 10),
		"@TARFILES@", strconv.Itoa(e.tarFiles), "@TIMEOUT@", strconv.Itoa(int(o.Timeout.Seconds())),
	).Replace(guestScript)
	scriptPath := filepath.Join(e.work, "run", "guest-"+inst+".sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		tr.results = completeResults(target, o.Workloads, nil, "not run: "+err.Error())
		return tr, err
	}
	outDir := filepath.Join(e.work, "run", "out-"+inst)
	_ = os.RemoveAll(outDir)
	vmCtx, cancel := context.WithTimeout(ctx, o.Timeout*time.Duration(len(o.Workloads))+10*time.Minute)
	defer cancel()
	forward := []int{e.s3Port, e.controlPort}
	if mport != 0 {
		forward = append(forward, mport)
	}
	var output bytes.Buffer
	res, runErr := e.vm.Run(vmCtx, script, nfsvm.RunOptions{Port: nfsPort, Export: exportPath,
		Forward: forward, OutDir: outDir, MemoryMB: 3072, CPUs: o.GuestCPUs, Output: &output})
	log.Info("target finished", "target", target, "round", round+1, "nfsvm", res.String())
	out := output.Bytes()
	_ = os.WriteFile(filepath.Join(e.work, "run", "console-"+inst+".txt"), out, 0o644)
	results, notes := parseOutput(string(out))
	if res.Network != "" && (res.Boot > 0 || len(results) > 0 || len(notes) > 0) {
		tr.network = string(res.Network) // the guest ran, on the network the harness made
	}
	tr.notes = append(tr.notes, target+" nfsvm: "+res.String())
	tr.notes = append(tr.notes, notes...)
	if rtt, ok := parseRTT(string(out), target, false); ok {
		tr.rtt = &rtt
	}
	if rtt, ok := parseRTT(string(out), target, true); ok {
		tr.rttPad = &rtt
	}
	if prof := filepath.Join(outDir, "tar.pprof"); fileExists(prof) {
		top, err := profileTop(ctx, filepath.Join(e.work, "zerofsd"), prof)
		if err != nil {
			log.Warn("reading the CPU profile", "target", target, "round", round+1, "err", err)
		} else {
			tr.profile = top
		}
	}
	tr.results = completeResults(target, o.Workloads, results, guestStopped(runErr))
	if runErr != nil {
		runErr = fmt.Errorf("nfsvm for %s, round %d: %w", target, round+1, runErr)
	}
	if nfsTarget(target) {
		tr.client = clientOpsPerWorkload(outDir)
	}
	if spec.S3 {
		tr.s3 = map[string]s3proxy.Stats{}
		for _, w := range o.Workloads {
			before, err1 := os.ReadFile(filepath.Join(outDir, w+".before.s3"))
			after, err2 := os.ReadFile(filepath.Join(outDir, w+".after.s3"))
			if err := errors.Join(err1, err2); err != nil {
				continue
			}
			b, err1 := s3proxy.ParseMetrics(string(before))
			a, err2 := s3proxy.ParseMetrics(string(after))
			if err := errors.Join(err1, err2); err != nil {
				log.Warn("reading the proxy's counters", "target", target, "round", round+1, "workload", w, "err", err)
				continue
			}
			tr.s3[w] = bucketAs(a.Sub(b), inst, target)
		}
	}
	if mport == 0 {
		return tr, runErr
	}
	tr.costs = map[string]Cost{}
	for _, w := range o.Workloads {
		before, err1 := os.ReadFile(filepath.Join(outDir, w+".before"))
		after, err2 := os.ReadFile(filepath.Join(outDir, w+".after"))
		if err := errors.Join(err1, err2); err != nil {
			continue
		}
		tr.costs[w] = parseMetrics(string(after), exportName).Sub(parseMetrics(string(before), exportName))
	}
	return tr, runErr
}

// bucketAs keeps, of the proxy's counters, those of one bucket, under
// another name: a round's bucket under its target's.
func bucketAs(st s3proxy.Stats, bucket, name string) s3proxy.Stats {
	out := s3proxy.Stats{}
	for k, c := range st {
		if k.Bucket == bucket {
			out[s3proxy.Key{Bucket: name, Method: k.Method}] = c
		}
	}
	return out
}

// assemble makes the report of every round's runs: all results; for each
// target and workload the details of the round the report shows
// (Report.shownRound); the round trips and profile of each target's first
// round; the notes, marked with their round when there are several.
func assemble(o Options, orders [][]string, runs []targetRun) Report {
	rep := Report{Options: o, Orders: orders, RTT: map[string]RTT{}, RTTPad: map[string]RTT{}, Profiles: map[string]string{}, Network: map[string]string{}}
	rounds := max(o.Rounds, len(orders), 1)
	costs := make([]map[string]map[string]Cost, rounds)
	s3 := make([]map[string]map[string]s3proxy.Stats, rounds)
	client := make([]map[string]map[string]ClientOps, rounds)
	for k := range rounds {
		costs[k], s3[k], client[k] = map[string]map[string]Cost{}, map[string]map[string]s3proxy.Stats{}, map[string]map[string]ClientOps{}
	}
	for _, tr := range runs {
		rep.Results = append(rep.Results, tr.results...)
		for _, n := range tr.notes {
			if rounds > 1 {
				n = fmt.Sprintf("round %d: %s", tr.round+1, n)
			}
			rep.Notes = append(rep.Notes, n)
		}
		if tr.costs != nil {
			costs[tr.round][tr.target] = tr.costs
		}
		if tr.s3 != nil {
			s3[tr.round][tr.target] = tr.s3
		}
		if tr.client != nil {
			client[tr.round][tr.target] = tr.client
		}
		if tr.network != "" {
			if m, ok := rep.Network[tr.target]; !ok {
				rep.Network[tr.target] = tr.network
			} else if m != tr.network {
				rep.Notes = append(rep.Notes, fmt.Sprintf("round %d: %s ran on the %s network, not %s as before: its rounds do not compare", tr.round+1, tr.target, tr.network, m))
			}
		}
		if tr.round != 0 {
			continue
		}
		if tr.rtt != nil {
			rep.RTT[tr.target] = *tr.rtt
		}
		if tr.rttPad != nil {
			rep.RTTPad[tr.target] = *tr.rttPad
		}
		if tr.profile != "" {
			rep.Profiles[tr.target] = tr.profile
		}
	}
	rep.Costs = pickShown(costs, rep.shownRound)
	rep.S3 = pickShown(s3, rep.shownRound)
	rep.Client = pickShown(client, rep.shownRound)
	return rep
}

// pickShown keeps, of per-round details (round -> target -> workload ->
// detail), those of the round the report shows for each target and
// workload.
func pickShown[T any](perRound []map[string]map[string]T, shown func(target, workload string) int) map[string]map[string]T {
	out := map[string]map[string]T{}
	for round, byTarget := range perRound {
		for t, byWorkload := range byTarget {
			for w, v := range byWorkload {
				if shown(t, w) != round {
					continue
				}
				if out[t] == nil {
					out[t] = map[string]T{}
				}
				out[t][w] = v
			}
		}
	}
	return out
}
