package store

import (
	"context"
	"log/slog"
	"time"

	"gorm.io/gorm/logger"
)

// sqlLog writes every statement GORM runs to the store's logger at debug level (ENTITLED_LOG_LEVEL
// =debug): its SQL text with placeholders, never the values bound to them (passwords' hashes,
// tokens' hashes, addresses), the rows it affected, how long it took, and its error. The record
// carries the statement's context, so a handler can tell a request's statements from a job's.
// At any other level it costs one Enabled call per statement.
type sqlLog struct{ log *slog.Logger }

func (l sqlLog) LogMode(logger.LogLevel) logger.Interface                           { return l }
func (sqlLog) Info(context.Context, string, ...any)                                 {}
func (sqlLog) Warn(context.Context, string, ...any)                                 {}
func (sqlLog) Error(context.Context, string, ...any)                                {}
func (sqlLog) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) { return sql, nil }

func (l sqlLog) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if !l.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	sql, rows := fc()
	attrs := []slog.Attr{slog.String("sql", sql), slog.Int64("rows", rows), slog.Duration("took", time.Since(begin))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.log.LogAttrs(ctx, slog.LevelDebug, "sql statement", attrs...)
}
