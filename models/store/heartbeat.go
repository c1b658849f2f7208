package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"gorm.io/gorm/clause"
)

// Process heartbeats: a serving process writes its row in process_heartbeats every
// heartbeatEvery, so that another replica can tell that it died (its row stops moving) and take
// over what it left half-done: today, the idempotency keys of the requests it was running.

const (
	// heartbeatEvery is how often a serving process writes its heartbeat.
	heartbeatEvery = 2 * time.Second
	// heartbeatStale is how old a heartbeat may be before its process counts as gone: a few beats
	// missed, so that a slow write or a pause (GC, a busy database) is not taken for a death.
	heartbeatStale = 10 * time.Second
	// heartbeatKeep is how long the row of a process that stopped is kept.
	heartbeatKeep = 24 * time.Hour
)

type processHeartbeat struct {
	ID     string `gorm:"primaryKey"`
	SeenAt time.Time
}

func (processHeartbeat) TableName() string { return "process_heartbeats" }

// heartbeat is the store's side of it.
type heartbeat struct {
	id      string      // this process, random, for the life of the store
	beating atomic.Bool // RunHeartbeat has written at least once and runs
}

func newProcessID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// beat writes this process's heartbeat now.
func (s *Store) beat(ctx context.Context) error {
	row := processHeartbeat{ID: s.heartbeat.id, SeenAt: s.Clock.Now()}
	return translate(s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"seen_at"}),
	}).Create(&row).Error)
}

// RunHeartbeat writes this process's heartbeat every couple of seconds until ctx ends, then
// removes it. Idempotency keys claimed while it runs name this process, so that another replica
// takes them over soon after this process dies. It returns at once when the first beat fails.
func (s *Store) RunHeartbeat(ctx context.Context) error {
	if err := s.beat(ctx); err != nil {
		return err
	}
	s.heartbeat.beating.Store(true)
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				s.heartbeat.beating.Store(false)
				cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = s.db.WithContext(cctx).Delete(&processHeartbeat{}, "id = ?", s.heartbeat.id).Error
				cancel()
				return
			case <-t.C:
				if err := s.beat(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("process heartbeat not written; idempotency keys of this process's requests may be taken over", "error", err)
				}
				if n%1000 == 0 {
					_ = s.db.WithContext(ctx).Where("seen_at < ?", s.Clock.Now().Add(-heartbeatKeep)).Delete(&processHeartbeat{}).Error
				}
			}
		}
	}()
	return nil
}

// processGone says whether the process with the heartbeat id has stopped beating at now: its
// row is older than heartbeatStale, or missing.
func (s *Store) processGone(ctx context.Context, id string, now time.Time) (bool, error) {
	var hb processHeartbeat
	err := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&hb).Error
	if err != nil {
		return false, translate(err)
	}
	return hb.ID == "" || now.Sub(hb.SeenAt) > heartbeatStale, nil
}
