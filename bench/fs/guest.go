package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// runGuest runs one file-system operation loop inside the guest
// ("benchfs guest OP ARGS..."), so that a workload of many small operations
// is timed without a process start per operation.
func runGuest(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("guest: no operation")
	}
	op, args := args[0], args[1:]
	num := func(i int) int {
		if i >= len(args) {
			fmt.Fprintf(os.Stderr, "guest %s: missing argument %d\n", op, i+1)
			os.Exit(2)
		}
		n, err := strconv.Atoi(args[i])
		if err != nil {
			fmt.Fprintf(os.Stderr, "guest %s: argument %d: %v\n", op, i+1, err)
			os.Exit(2)
		}
		return n
	}
	switch op {
	case "noop":
		return nil
	case "write-files":
		return writeFiles(args[0], num(1), num(2))
	case "prep-mid":
		return writeFiles(args[0], num(1), num(2))
	case "modify":
		return modifyFiles(args[0], num(1))
	case "append":
		return appendFile(args[0], num(1), num(2))
	case "create":
		return createEmpty(args[0], num(1))
	case "mkdirs":
		return makeDirs(args[0], num(1))
	case "randread":
		return randomReads(args[0], num(1))
	case "rename":
		return renameFiles(args[0], num(1))
	case "delete":
		return deleteAll(args[0])
	case "scrape":
		return scrape(args[0], args[1])
	case "restart":
		return restartServer(args[0])
	case "rtt":
		return nullRoundTrips(args[0], args[1], num(2))
	}
	return fmt.Errorf("guest: unknown operation %q", op)
}

const ioSize = 4096

func fileName(i int) string { return fmt.Sprintf("f%06d", i) }

// payload returns size bytes that do not compress to nothing.
func payload(rng *rand.Rand, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func writeFiles(dir string, n, size int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 1))
	data := payload(rng, size)
	for i := range n {
		data[0], data[1] = byte(i), byte(i>>8)
		if err := os.WriteFile(filepath.Join(dir, fileName(i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func listFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, filepath.Join(dir, e.Name()))
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no files", dir)
	}
	return names, nil
}

// alignedMiddleOffset picks a 4 KiB-aligned offset in the middle half of a file.
func alignedMiddleOffset(rng *rand.Rand, size int64) int64 {
	blocks := size / ioSize
	if blocks < 4 {
		return 0
	}
	return (blocks/4 + rng.Int64N(blocks/2)) * ioSize
}

// modifyFiles opens a file, overwrites 4 KiB in its middle and closes it, n times.
func modifyFiles(dir string, n int) error {
	names, err := listFiles(dir)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(2, 2))
	data := payload(rng, ioSize)
	for i := range n {
		name := names[i%len(names)]
		st, err := os.Stat(name)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(data, alignedMiddleOffset(rng, st.Size())); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// appendFile opens one file for appending, writes size bytes and closes it, n times.
func appendFile(name string, n, size int) error {
	data := payload(rand.New(rand.NewPCG(3, 3)), size)
	for range n {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func createEmpty(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		f, err := os.OpenFile(filepath.Join(dir, fileName(i)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func makeDirs(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		if err := os.Mkdir(filepath.Join(dir, fileName(i)), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// randomReads reads 4 KiB at random aligned offsets of the files in dir, n times.
func randomReads(dir string, n int) error {
	names, err := listFiles(dir)
	if err != nil {
		return err
	}
	files := make([]*os.File, len(names))
	sizes := make([]int64, len(names))
	for i, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		files[i], sizes[i] = f, st.Size()
	}
	rng := rand.New(rand.NewPCG(4, 4))
	buf := make([]byte, ioSize)
	for range n {
		i := rng.IntN(len(files))
		off := int64(0)
		if blocks := sizes[i] / ioSize; blocks > 0 {
			off = rng.Int64N(blocks) * ioSize
		}
		if _, err := files[i].ReadAt(buf, off); err != nil && err != io.EOF {
			return fmt.Errorf("%s at %d: %w", names[i], off, err)
		}
	}
	return nil
}

func renameFiles(dir string, n int) error {
	for i := range n {
		if err := os.Rename(filepath.Join(dir, fileName(i)), filepath.Join(dir, "r"+fileName(i))); err != nil {
			return err
		}
	}
	return nil
}

func deleteAll(dir string) error {
	names, err := listFiles(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := os.Remove(name); err != nil {
			return err
		}
	}
	return nil
}

// scrape copies the metrics page at url to file.
func scrape(url, file string) error {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// restartServer asks the host's control service at url to restart the
// target's server cold, waits for it, and prints its answer.
func restartServer(url string) error {
	c := http.Client{Timeout: 10 * time.Minute}
	resp, err := c.Post(url, "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	fmt.Printf("%s", b)
	return nil
}

// paddedCallBytes is the argument size of the second round-trip probe:
// more than one TCP segment (MSS 1460 on the VM's network), like a WRITE
// with data.
const paddedCallBytes = 2000

// nullRoundTrips sends count NFS NULL calls one after another over one TCP
// connection to addr, then count NULL calls carrying paddedCallBytes of
// (ignored) arguments, and prints
//
//	RTT <target> <count> <min_ns> <median_ns> <p90_ns>
//	RTTPAD <target> <bytes> <count> <min_ns> <median_ns> <p90_ns>
//
// the floor under every synchronous call the guest's kernel makes, for a
// call of one TCP segment and for one of two.
func nullRoundTrips(target, addr string, count int) error {
	if count <= 0 {
		return fmt.Errorf("rtt: count must be positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("rtt: %w", err)
	}
	defer c.Close()
	if err := c.Null(ctx); err != nil { // the first call pays for connection setup
		return fmt.Errorf("rtt: %w", err)
	}
	measure := func(args []byte) ([]time.Duration, error) {
		d := make([]time.Duration, count)
		for i := range d {
			start := time.Now()
			if _, err := c.Call(ctx, 0, args); err != nil {
				return nil, fmt.Errorf("rtt: call %d with %d bytes of arguments: %w", i, len(args), err)
			}
			d[i] = time.Since(start)
		}
		slices.Sort(d)
		return d, nil
	}
	d, err := measure(nil)
	if err != nil {
		return err
	}
	fmt.Printf("RTT %s %d %d %d %d\n", target, count, d[0], d[count/2], d[count*9/10])
	d, err = measure(make([]byte, paddedCallBytes))
	if err != nil {
		return err
	}
	fmt.Printf("RTTPAD %s %d %d %d %d %d\n", target, paddedCallBytes, count, d[0], d[count/2], d[count*9/10])
	return nil
}
