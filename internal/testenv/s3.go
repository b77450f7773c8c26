package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
	"github.com/zerofs-go/zerofsd/objstore"
)

// S3Env describes a bucket on the test S3 server.
type S3Env struct {
	Endpoint        string // "http://127.0.0.1:PORT"
	Bucket          string // fresh, empty
	AccessKeyID     string
	SecretAccessKey string
	Region          string
}

// Options returns objstore options for the bucket (AllowHTTP set).
func (e S3Env) Options() objstore.S3Options {
	return objstore.S3Options{
		Endpoint:        e.Endpoint,
		Bucket:          e.Bucket,
		Region:          e.Region,
		AccessKeyID:     e.AccessKeyID,
		SecretAccessKey: e.SecretAccessKey,
		AllowHTTP:       true,
	}
}

const (
	accessKeyID     = "test"
	secretAccessKey = "testsecret"
	region          = "us-east-1"
)

// server is the per-process versitygw.
type server struct {
	bin      string
	endpoint string
	root     string
	cmd      *exec.Cmd
	exited   chan struct{}
	client   *s3.Client
	err      error
	skip     string // non-empty: binary missing
}

// shared holds the per-process server; see the package comment.
var shared struct {
	once sync.Once
	mu   sync.Mutex
	srv  *server
}

// S3 returns a fresh bucket on the shared test server, starting it on first
// use. It skips (or fails under ZEROFS_REQUIRE_S3=1) when versitygw is not
// installed, and fails when it does not start.
func S3(t testing.TB) S3Env {
	t.Helper()
	shared.once.Do(func() {
		srv := startServer()
		shared.mu.Lock()
		shared.srv = srv
		shared.mu.Unlock()
	})
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	if srv.skip != "" {
		require.Missing(t, require.S3, "testenv: %s", srv.skip)
	}
	if srv.err != nil {
		t.Fatalf("testenv: versitygw: %v", srv.err)
	}
	bucket := "t-" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("testenv: create bucket %q: %v", bucket, err)
	}
	return S3Env{
		Endpoint:        srv.endpoint,
		Bucket:          bucket,
		AccessKeyID:     accessKeyID,
		SecretAccessKey: secretAccessKey,
		Region:          region,
	}
}

// S3Account is an extra account on the test server, with the admin role (it
// may use every bucket), for tests that rotate credentials.
type S3Account struct {
	AccessKeyID     string
	SecretAccessKey string
}

// NewS3Account creates a fresh account on the shared test server (starting
// it like S3 does); it is deleted when the test ends.
func NewS3Account(t testing.TB) S3Account {
	t.Helper()
	env := S3(t) // starts the server, or skips
	a := S3Account{AccessKeyID: "acct-" + randomHex(6), SecretAccessKey: randomHex(20)}
	admin(t, env.Endpoint, "create-user", "--access", a.AccessKeyID, "--secret", a.SecretAccessKey, "--role", "admin")
	t.Cleanup(func() { _ = adminRun(env.Endpoint, "delete-user", "--access", a.AccessKeyID) })
	return a
}

// Revoke deletes the account: every later request signed with it is refused.
func (a S3Account) Revoke(t testing.TB) {
	t.Helper()
	admin(t, S3(t).Endpoint, "delete-user", "--access", a.AccessKeyID)
}

// admin runs one command of versitygw's admin tool against the shared server
// as its root user, failing the test on error.
func admin(t testing.TB, endpoint string, args ...string) {
	t.Helper()
	if err := adminRun(endpoint, args...); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func adminRun(endpoint string, args ...string) error {
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"admin", "--access", accessKeyID, "--secret", secretAccessKey, "--endpoint-url", endpoint}, args...)
	out, err := exec.CommandContext(ctx, srv.bin, full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("versitygw admin %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// S3Store returns an objstore.Store on a fresh bucket of the test server.
func S3Store(t testing.TB) objstore.Store {
	t.Helper()
	env := S3(t)
	store, err := objstore.NewS3(context.Background(), env.Options())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// Main runs the tests, then stops the server and removes its directory.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stopServer()
	os.Exit(code)
}

func stopServer() {
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	if srv == nil || srv.cmd == nil {
		return
	}
	_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
	<-srv.exited
	_ = os.RemoveAll(srv.root)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// findVersitygw looks on PATH, then in GOPATH/bin.
func findVersitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.SplitList(gp)...)
	} else if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found on PATH or in $(go env GOPATH)/bin; install it with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
}

func startServer() *server {
	bin, err := findVersitygw()
	if err != nil {
		return &server{skip: err.Error()}
	}
	removeStaleRoots()
	var lastErr error
	for range 3 { // a port taken between probe and bind: try another
		srv, err := launch(bin)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	return &server{err: lastErr}
}

const (
	rootPattern = "zerofs-versitygw-"
	ownerFile   = "owner.pid"
)

// removeStaleRoots removes server directories of test binaries that exited
// without Main (their server died with them; the directory did not).
func removeStaleRoots() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), rootPattern+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
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

// launch starts versitygw and waits until it answers.
func launch(bin string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", rootPattern)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logFile, err := os.Create(filepath.Join(root, "versitygw.log"))
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	defer logFile.Close()
	data := filepath.Join(root, "data")
	iam := filepath.Join(root, "iam")
	for _, dir := range []string{data, iam} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			os.RemoveAll(root)
			return nil, err
		}
	}
	// Its own account store, read on every request (no cache), so that an
	// account deleted by S3Account.Revoke is refused at once.
	cmd := exec.Command(bin, "--port", addr, "--keep-alive", "--iam-dir", iam, "--iam-cache-disable", "posix", data)
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY_ID="+accessKeyID,
		"ROOT_SECRET_ACCESS_KEY="+secretAccessKey,
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group (so stopServer kills it whole) and a SIGKILL when
	// the starting thread dies. That thread is locked and parked for the
	// life of the process, so the signal comes when the test binary exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		started <- cmd.Start()
		select {} // keep this thread alive: Pdeathsig follows it
	}()
	if err := <-started; err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	endpoint := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(root, "versitygw.log"))
			os.RemoveAll(root)
			return nil, fmt.Errorf("versitygw exited at startup: %s", strings.TrimSpace(string(log)))
		default:
		}
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			os.RemoveAll(root)
			return nil, fmt.Errorf("versitygw on %s did not answer within 20s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
	})
	return &server{bin: bin, endpoint: endpoint, root: root, cmd: cmd, exited: exited, client: client}, nil
}
