package exports

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/objstore"
)

// OpenStore opens the object store an export's URL names: a local directory,
// an S3 bucket/prefix with the export's effective S3 settings, or a fresh
// in-memory store. An S3 store is asked once whether its bucket exists and
// takes its credentials (objstore.S3.CheckBucket), so that a missing bucket
// (objstore.ErrNoSuchBucket) or refused credentials fail the open with an
// error naming the bucket, not the first request of whatever opens next.
// log receives the store's own logs (an S3 store's retries), with the
// export's name as attribute "export"; nil is slog.Default().
func OpenStore(ctx context.Context, e config.Export, log *slog.Logger) (objstore.Store, error) {
	switch e.Store.Scheme {
	case config.SchemeFile:
		return objstore.NewLocal(e.Store.Dir)
	case config.SchemeS3:
		s, err := objstore.NewS3(ctx, s3Options(e, log))
		if err != nil {
			return nil, err
		}
		if err := s.CheckBucket(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
		return s, nil
	case config.SchemeMemory:
		return objstore.NewMemory(), nil
	}
	return nil, fmt.Errorf("unsupported store scheme %q", e.Store.Scheme)
}

// s3Options are the S3 store options of an s3:// export, logging to log
// (nil: slog.Default()) with the export's name.
func s3Options(e config.Export, log *slog.Logger) objstore.S3Options {
	if log == nil {
		log = slog.Default()
	}
	return objstore.S3Options{
		Endpoint:        e.S3.Endpoint,
		Bucket:          e.Store.Bucket,
		Prefix:          e.Store.Prefix,
		Region:          e.S3.Region,
		AccessKeyID:     e.S3.AccessKeyID,
		SecretAccessKey: e.S3.SecretAccessKey.Reveal(),
		SessionToken:    e.S3.SessionToken.Reveal(),
		AllowHTTP:       e.S3.AllowHTTP,
		Logger:          log.With("export", e.Name),
	}
}
