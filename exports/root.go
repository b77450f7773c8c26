package exports

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/kvfs"
)

// rootAttrs is what a new filesystem's root gets: root_owner and root_mode,
// each defaulting to kvfs's (0:0, 0755).
func rootAttrs(ec config.Export) *kvfs.RootAttrs {
	r := kvfs.RootAttrs{Mode: kvfs.DefaultRootMode}
	if ec.RootOwner != nil {
		r.UID, r.GID = ec.RootOwner.UID, ec.RootOwner.GID
	}
	if ec.RootMode != nil {
		r.Mode = *ec.RootMode
	}
	return &r
}

// checkRoot says at INFO when the export's root differs from root_owner or
// root_mode: they apply only when the filesystem is created, and an
// existing root is kept as it is (it may have been changed on purpose
// since, with chown and chmod through a mount).
func checkRoot(ctx context.Context, fs *kvfs.FS, ec config.Export, log *slog.Logger) error {
	if ec.RootOwner == nil && ec.RootMode == nil {
		return nil
	}
	a, err := fs.GetAttr(ctx, kvfs.RootIno)
	if err != nil {
		return fmt.Errorf("reading the root's attributes: %w", err)
	}
	want := rootAttrs(ec)
	ownerDiffers := ec.RootOwner != nil && (a.UID != want.UID || a.GID != want.GID)
	modeDiffers := ec.RootMode != nil && a.Mode != want.Mode
	if !ownerDiffers && !modeDiffers {
		return nil
	}
	log.Info("export root kept as it is: root_owner and root_mode apply only when the export's filesystem is created",
		"export", ec.Name, "owner", fmt.Sprintf("%d:%d", a.UID, a.GID), "mode", fmt.Sprintf("%04o", a.Mode),
		"root_owner", fmt.Sprintf("%d:%d", want.UID, want.GID), "root_mode", fmt.Sprintf("%04o", want.Mode))
	return nil
}
