package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/zerofs-go/zerofsd/internal/retry"
)

// S3Options configures NewS3.
type S3Options struct {
	// Endpoint is the server's base URL ("https://s3.example.net:9000"); ""
	// means AWS. A custom endpoint uses path-style addressing.
	Endpoint string
	// Bucket is required.
	Bucket string
	// Prefix puts every key under this prefix (normalised to end with "/";
	// "" for none). Keys passed in and listed out are relative to it.
	Prefix string
	// Region defaults to "us-east-1".
	Region string
	// AccessKeyID and SecretAccessKey are static credentials; when both are
	// empty the SDK's default chain (environment, shared files, instance
	// role) is used.
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken makes the static credentials temporary ones (STS, SSO);
	// only with AccessKeyID and SecretAccessKey. Never logged or printed.
	SessionToken string
	// AllowHTTP permits an http:// endpoint; without it NewS3 refuses one.
	AllowHTTP bool
	// MaxAttempts bounds the attempts of one operation (default 12; 1
	// means no retry).
	MaxAttempts int
	// RetryBaseDelay is the backoff before the second attempt (default
	// 100ms); it doubles per attempt up to RetryMaxDelay (default 3s), with
	// full jitter. The defaults wait about 10s in all on average (at most
	// 21s) before an operation that keeps failing gives up: enough to ride
	// out a spell of throttling (503 SlowDown).
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// AttemptTimeout bounds one attempt, request and response body included
	// (default 60s); an attempt that runs out is retried.
	AttemptTimeout time.Duration
	// HTTPClient replaces the default client (a pooled transport keeping up
	// to 256 idle connections to the server).
	HTTPClient *http.Client
	// Logger receives retry warnings (default slog.Default()).
	Logger *slog.Logger
}

// LogValue logs the options without the secret key.
func (o S3Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", redactURL(o.Endpoint)),
		slog.String("bucket", o.Bucket),
		slog.String("prefix", o.Prefix),
		slog.String("region", o.Region),
		slog.String("access_key_id", o.AccessKeyID),
		slog.Bool("allow_http", o.AllowHTTP),
	)
}

// String describes the options without the secret key.
func (o S3Options) String() string {
	return fmt.Sprintf("s3 endpoint=%q bucket=%q prefix=%q region=%q", redactURL(o.Endpoint), o.Bucket, o.Prefix, o.Region)
}

// redactURL drops user information from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable endpoint)"
	}
	u.User = nil
	return u.String()
}

// S3 is a Store on an S3 bucket (AWS or a compatible server). Its bucket and
// prefix are fixed; its connection settings (endpoint, region, credentials,
// retry policy) may be replaced while it serves, with SetClient.
type S3 struct {
	bucket string
	prefix string
	client atomic.Pointer[S3Client]
}

var _ Store = (*S3)(nil)

// S3Client is a validated set of S3Options and the SDK client built from
// them: what an S3 store sends its requests through. It is immutable.
type S3Client struct {
	sdk  *s3.Client
	http *http.Client
	opts S3Options // defaults filled in
}

// The default retry policy: 11 retries after waits drawn uniformly from
// [0, d], d being 100ms, 200ms, 400ms, 800ms, 1.6s, then 3s six times. The
// waits add up to about 10.5s on average and at most 21.1s; with six of them
// drawn from [0, 3s] the sum is very unlikely to fall under a few seconds,
// so a short spell of throttling is outlasted rather than turned into a
// failed read. Many attempts under a moderate cap make that sum concentrate
// near its mean; a few long ones would not.
const (
	defaultS3MaxAttempts    = 12
	defaultS3RetryBaseDelay = 100 * time.Millisecond
	defaultS3RetryMaxDelay  = 3 * time.Second
)

// NewS3 returns a store on the bucket described by opts. It contacts no
// server (except the credential chain, when no static keys are given).
func NewS3(ctx context.Context, opts S3Options) (*S3, error) {
	c, err := NewS3Client(ctx, opts)
	if err != nil {
		return nil, err
	}
	s := &S3{bucket: c.opts.Bucket, prefix: c.opts.Prefix}
	s.client.Store(c)
	return s, nil
}

// NewS3Client validates opts and builds their client, for NewS3 or for
// S3.SetClient. It contacts no server (except the credential chain, when no
// static keys are given).
func NewS3Client(ctx context.Context, opts S3Options) (*S3Client, error) {
	if opts.Bucket == "" {
		return nil, errors.New("objstore: s3: no bucket given")
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = defaultS3MaxAttempts
	}
	if opts.RetryBaseDelay <= 0 {
		opts.RetryBaseDelay = defaultS3RetryBaseDelay
	}
	if opts.RetryMaxDelay <= 0 {
		opts.RetryMaxDelay = defaultS3RetryMaxDelay
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("objstore: s3: endpoint %q is not a URL", redactURL(opts.Endpoint))
		}
		switch u.Scheme {
		case "https":
		case "http":
			if !opts.AllowHTTP {
				return nil, fmt.Errorf("objstore: s3: refusing plain-HTTP endpoint %s (set AllowHTTP / AWS_ALLOW_HTTP=true to permit it)", redactURL(opts.Endpoint))
			}
		default:
			return nil, fmt.Errorf("objstore: s3: endpoint %s: scheme must be https or http", redactURL(opts.Endpoint))
		}
	}
	if (opts.AccessKeyID == "") != (opts.SecretAccessKey == "") {
		return nil, errors.New("objstore: s3: give both the access key id and the secret key, or neither")
	}
	if opts.SessionToken != "" && opts.AccessKeyID == "" {
		return nil, errors.New("objstore: s3: a session token needs the access key id and secret key it was issued with")
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 256
		tr.MaxIdleConnsPerHost = 256
		httpClient = &http.Client{Transport: tr}
	}

	var cfg aws.Config
	if opts.AccessKeyID == "" {
		var err error
		cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(opts.Region))
		if err != nil {
			return nil, fmt.Errorf("objstore: s3: load credentials: %w", err)
		}
	} else {
		cfg = aws.Config{Credentials: credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, opts.SessionToken)}
	}
	cfg.Region = opts.Region
	cfg.HTTPClient = httpClient
	// Retries are ours (see retry); the SDK makes one attempt.
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	cfg.RetryMaxAttempts = 1
	// Non-AWS servers often reject or mangle the SDK's default checksums.
	cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired

	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			o.UsePathStyle = true
		}
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	opts.Prefix = strings.Trim(opts.Prefix, "/")
	if opts.Prefix != "" {
		opts.Prefix += "/"
	}
	return &S3Client{sdk: client, http: httpClient, opts: opts}, nil
}

// Bucket returns the bucket the client's options name.
func (c *S3Client) Bucket() string { return c.opts.Bucket }

// Prefix returns the normalised key prefix the client's options name ("" or
// ending in "/").
func (c *S3Client) Prefix() string { return c.opts.Prefix }

// SetClient makes every later request of s, and every later attempt of a
// request being retried, go through c: new credentials, endpoint, region or
// retry policy take effect without closing the store. Attempts in flight
// finish on the previous client, whose idle connections are released a
// while later (retiredClientGrace): closing them at once would break an
// attempt that has just taken one of them from the pool ("http:
// CloseIdleConnections called"). c must name the same bucket and prefix as
// s (a store never moves).
func (s *S3) SetClient(c *S3Client) error {
	if c.opts.Bucket != s.bucket || c.opts.Prefix != s.prefix {
		return fmt.Errorf("objstore: s3: a store on bucket %q prefix %q cannot take a client for bucket %q prefix %q",
			s.bucket, s.prefix, c.opts.Bucket, c.opts.Prefix)
	}
	old := s.client.Swap(c)
	if old != nil && old.http != c.http {
		time.AfterFunc(retiredClientGrace, old.http.CloseIdleConnections)
	}
	return nil
}

// retiredClientGrace is how long a replaced client's idle connections are
// kept: long enough for every attempt that loaded it before the swap to
// have taken its connection.
const retiredClientGrace = time.Minute

// Options returns the settings of the client in use (defaults filled in).
func (s *S3) Options() S3Options { return s.client.Load().opts }

// Close releases idle connections.
func (s *S3) Close() error {
	s.client.Load().http.CloseIdleConnections()
	return nil
}

// CheckBucket asks the server, in one request, whether the bucket exists and
// the credentials may list the store's prefix in it (what opening a
// database does first), for a clear error when a store is opened: a
// missing bucket is ErrNoSuchBucket, refused credentials are named as
// such. It lists rather than asks for the bucket (HeadBucket): credentials
// confined to the prefix may not ask about the whole bucket.
func (s *S3) CheckBucket(ctx context.Context) error {
	c := s.client.Load()
	endpoint := redactURL(c.opts.Endpoint)
	err := s.retry(ctx, OpList, "", func(ctx context.Context, c *s3.Client) error {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix), MaxKeys: aws.Int32(1)})
		return err
	})
	switch {
	case err == nil:
		return nil
	case apiCode(err) == "NoSuchBucket":
		return fmt.Errorf("objstore: s3 bucket %q at %s: %w", s.bucket, endpoint, ErrNoSuchBucket)
	case httpStatus(err) == http.StatusForbidden:
		who := fmt.Sprintf("access key id %q", c.opts.AccessKeyID)
		if c.opts.AccessKeyID == "" {
			who = "of the default chain"
		}
		return fmt.Errorf("objstore: s3 bucket %q at %s: the credentials (%s) are refused: %w", s.bucket, endpoint, who, err)
	}
	return fmt.Errorf("objstore: s3 bucket %q at %s: %w", s.bucket, endpoint, err)
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

// Prefix returns the normalised key prefix ("" or ending in "/").
func (s *S3) Prefix() string { return s.prefix }

func (s *S3) begin(op Op, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("objstore: s3 %s: %w", op, err)
	}
	return nil
}

// retry runs attempt until it succeeds, fails for good, runs out of
// attempts or ctx ends. Each attempt gets its own timeout and goes through
// the client in use when it starts (see SetClient).
func (s *S3) retry(ctx context.Context, op Op, key string, attempt func(ctx context.Context, c *s3.Client) error) error {
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("objstore: s3 %s %q: %w", op, key, err)
		}
		c := s.client.Load()
		actx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
		err := attempt(actx, c.sdk)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("objstore: s3 %s %q: %w (last attempt: %v)", op, key, ctx.Err(), err)
		}
		if !retryable(err) || n >= c.opts.MaxAttempts {
			return s.classify(op, key, err, n)
		}
		delay := retry.Delay(c.opts.RetryBaseDelay, c.opts.RetryMaxDelay, n, true)
		c.opts.Logger.Warn("object store request failed; retrying",
			"op", op.String(), "bucket", s.bucket, "key", s.prefix+key,
			"attempt", n, "max_attempts", c.opts.MaxAttempts, "delay", delay, "err", err)
		if err := retry.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("objstore: s3 %s %q: %w", op, key, err)
		}
	}
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.HTTPStatusCode()
	}
	return 0
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// retryable reports whether a failed attempt is worth repeating: 5xx,
// throttling (429, SlowDown), timeouts and connection errors, including a
// 2xx answer whose body broke off or could not be decoded, and a 409
// ConditionalRequestConflict: another conditional write of the key was in
// progress (perhaps an earlier attempt of ours), which proves nothing about
// whether the object exists. Other 4xx answers are final.
func retryable(err error) bool {
	if status := httpStatus(err); status != 0 && (status < 200 || status > 299) {
		switch {
		case status >= 500, status == http.StatusTooManyRequests:
			return true
		}
		switch apiCode(err) {
		case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ConditionalRequestConflict":
			return true
		}
		return false
	}
	// No HTTP answer, or a good status with a broken body: the attempt's own
	// timeout or a transport failure.
	var netErr net.Error
	var deserialize *smithy.DeserializationError
	switch {
	case errors.As(err, &deserialize):
		return true
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// classify maps a final error to the package's sentinels.
func (s *S3) classify(op Op, key string, err error, attempts int) error {
	status, code := httpStatus(err), apiCode(err)
	switch {
	case code == "NoSuchBucket":
		return fmt.Errorf("objstore: s3 %s %q: bucket %q does not exist: %w", op, key, s.bucket, err)
	case status == http.StatusNotFound || code == "NoSuchKey" || code == "NotFound":
		return fmt.Errorf("objstore: s3 %s %q: %w", op, key, ErrNotFound)
	case code == "ObjectParentIsFile" || code == "ExistingObjectIsDirectory":
		return fmt.Errorf("objstore: s3 %s %q: %w (%s)", op, key, ErrKeyConflict, code)
	case op == OpPutIfAbsent && (status == http.StatusPreconditionFailed || code == "PreconditionFailed"):
		return fmt.Errorf("objstore: s3 %s %q: %w", op, key, ErrPreconditionFailed)
	}
	if attempts > 1 {
		return fmt.Errorf("objstore: s3 %s %q (bucket %q) after %d attempts: %w", op, key, s.bucket, attempts, err)
	}
	return fmt.Errorf("objstore: s3 %s %q (bucket %q): %w", op, key, s.bucket, err)
}

// Get reads the whole object.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.begin(OpGet, key); err != nil {
		return nil, err
	}
	var data []byte
	err := s.retry(ctx, OpGet, key, func(ctx context.Context, c *s3.Client) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
		if err != nil {
			return err
		}
		data, err = readBody(out.Body, aws.ToInt64(out.ContentLength))
		return err
	})
	return data, err
}

// readBody reads and closes a response body, presizing the buffer.
func readBody(body io.ReadCloser, size int64) ([]byte, error) {
	defer body.Close()
	if size < 0 || size > 1<<31 {
		size = 0
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, err
	}
	if size > 0 && int64(buf.Len()) != size {
		return nil, fmt.Errorf("short body: %d of %d bytes: %w", buf.Len(), size, io.ErrUnexpectedEOF)
	}
	return buf.Bytes(), nil
}

// GetRange reads up to n bytes at off with a Range request. An offset at or
// past the end (416 from the server) gives an empty slice.
func (s *S3) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := checkRange(key, off, n); err != nil {
		return nil, err
	}
	if err := s.begin(OpGetRange, key); err != nil {
		return nil, err
	}
	if n == 0 {
		// No byte range can be empty; still answer ErrNotFound for a missing key.
		if _, err := s.Head(ctx, key); err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	last := off + n - 1
	if n > math.MaxInt64-off {
		last = math.MaxInt64 - 1
	}
	var data []byte
	err := s.retry(ctx, OpGetRange, key, func(ctx context.Context, c *s3.Client) error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{
			Bucket: &s.bucket,
			Key:    aws.String(s.prefix + key),
			Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, last)),
		})
		if httpStatus(err) == http.StatusRequestedRangeNotSatisfiable || apiCode(err) == "InvalidRange" {
			data = []byte{}
			return nil
		}
		if err != nil {
			return err
		}
		body, err := readBody(out.Body, aws.ToInt64(out.ContentLength))
		if err != nil {
			return err
		}
		if aws.ToString(out.ContentRange) == "" {
			// The server ignored the range and sent the whole object.
			data = sliceRange(body, off, n)
			return nil
		}
		if int64(len(body)) > n {
			body = body[:n]
		}
		data = body
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// Head reads the object's metadata.
func (s *S3) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := s.begin(OpHead, key); err != nil {
		return ObjectInfo{}, err
	}
	var info ObjectInfo
	err := s.retry(ctx, OpHead, key, func(ctx context.Context, c *s3.Client) error {
		out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
		if err != nil {
			return err
		}
		info = ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}
		return nil
	})
	return info, err
}

// Put writes the object with one PutObject.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, OpPut, key, data)
}

// PutIfAbsent writes the object with PutObject and If-None-Match: *; a 412
// is ErrPreconditionFailed. A 409 ConditionalRequestConflict (another
// conditional write of the key in progress) is retried like a transient
// error. See the package comment on retried attempts.
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, OpPutIfAbsent, key, data)
}

func (s *S3) put(ctx context.Context, op Op, key string, data []byte) error {
	if err := s.begin(op, key); err != nil {
		return err
	}
	return s.retry(ctx, op, key, func(ctx context.Context, c *s3.Client) error {
		in := &s3.PutObjectInput{
			Bucket:        &s.bucket,
			Key:           aws.String(s.prefix + key),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
		}
		if op == OpPutIfAbsent {
			in.IfNoneMatch = aws.String("*")
		}
		_, err := c.PutObject(ctx, in)
		return err
	})
}

// Delete removes the object; a missing one is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := s.begin(OpDelete, key); err != nil {
		return err
	}
	err := s.retry(ctx, OpDelete, key, func(ctx context.Context, c *s3.Client) error {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// List returns one page from ListObjectsV2, keys relative to the prefix.
// Directory markers (keys ending in "/") are skipped.
func (s *S3) List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error) {
	limit := min(listLimit(opts), 1000)
	startAfter := ""
	if opts.StartAfter != "" {
		startAfter = s.prefix + opts.StartAfter
	}
	var page ListPage
	for {
		var out *s3.ListObjectsV2Output
		err := s.retry(ctx, OpList, prefix, func(ctx context.Context, c *s3.Client) error {
			in := &s3.ListObjectsV2Input{
				Bucket:  &s.bucket,
				Prefix:  aws.String(s.prefix + prefix),
				MaxKeys: aws.Int32(int32(limit)),
			}
			if startAfter != "" {
				in.StartAfter = aws.String(startAfter)
			}
			var err error
			out, err = c.ListObjectsV2(ctx, in)
			return err
		})
		if err != nil {
			return ListPage{}, err
		}
		for _, o := range out.Contents {
			full := aws.ToString(o.Key)
			startAfter = full
			key, ok := strings.CutPrefix(full, s.prefix)
			if !ok || key == "" || strings.HasSuffix(key, "/") {
				continue
			}
			page.Objects = append(page.Objects, ObjectInfo{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
		page.Truncated = aws.ToBool(out.IsTruncated)
		if len(page.Objects) > 0 || !page.Truncated || len(out.Contents) == 0 {
			return page, nil
		}
		// Only markers in a truncated page: fetch the next one.
	}
}
