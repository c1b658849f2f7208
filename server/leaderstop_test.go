package main

// Issue 25, a fleet under faults: the replica that leads River (and so runs the scheduled jobs)
// is stopped with SIGSTOP for 30 s, as a long GC pause, a frozen VM or a debugger would stop it.
// Another replica takes the lead and the scheduled jobs; the day still has exactly one notice
// pass; and when the stopped one resumes it does not run the pass again nor send anything twice.

import (
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// leaderStop is how long the leader stays stopped: longer than River's leadership lease, so that
// another replica is elected while it sleeps.
const leaderStop = 30 * time.Second

func TestLeaderStoppedForThirtySecondsHandsOverTheScheduledJobs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("stops a replica for 30 s")
	}
	dbURL := postgresURL(t)
	sink, setups := fleetSetups(t, 3, dbURL)
	replicaCLI(t, setups[0], "", "migrate", "up")
	db := openDB(t, dbURL)
	notices := seedNoticeContracts(t, db)
	replicas := startReplicas(t, setups...)

	sweeps := func() int {
		return replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'renewal_sweep'`)
	}
	prunes := func() int {
		return replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'prune_expired'`)
	}
	// leader is the replica whose River client leads now (-1: none), by the pid in its client id.
	pidRE := regexp.MustCompile(`_pid(\d+)_`)
	leader := func() int {
		var id string
		if err := db.SQLDB().QueryRow(`SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id); err != nil {
			return -1
		}
		m := pidRE.FindStringSubmatch(id)
		if m == nil {
			t.Fatalf("River's leader id %q has no pid", id)
		}
		pid, _ := strconv.Atoi(m[1])
		return slices.IndexFunc(replicas, func(p *process) bool { return p.cmd.Process.Pid == pid })
	}

	eventually(t, 2*time.Minute, "today's renewal sweep to complete on the leader", func() bool {
		return replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'renewal_sweep' AND state = 'completed'`) == 1
	})
	first := leader()
	if first < 0 {
		t.Fatal("no replica leads River")
	}
	prunesBefore := prunes()
	t.Logf("replica %c leads; %d sweep job, %d prune jobs", 'A'+first, sweeps(), prunesBefore)

	stopped := time.Now()
	replicas[first].signal(syscall.SIGSTOP)
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = replicas[first].cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	next := -1
	eventually(t, leaderStop, "another replica to lead while the leader is stopped", func() bool {
		next = leader()
		return next >= 0 && next != first
	})
	handover := time.Since(stopped)
	// The new leader runs the scheduled jobs at once (RunOnStart): the hourly prune is inserted
	// again, the day's sweep is not (one job per day).
	eventually(t, leaderStop, "the new leader to run the hourly prune", func() bool { return prunes() > prunesBefore })
	t.Logf("replica %c leads %v after replica %c stopped", 'A'+next, handover.Round(time.Millisecond), 'A'+first)
	if n := sweeps(); n != 1 {
		t.Errorf("after the new leader started its scheduled jobs: %d sweep jobs today, want 1", n)
	}

	time.Sleep(time.Until(stopped.Add(leaderStop)))
	replicas[first].signal(syscall.SIGCONT)
	resumed = true
	// The resumed replica finds it no longer leads; nothing runs twice.
	eventually(t, 30*time.Second, "the resumed replica to serve again", func() bool {
		return replicas[first].waitHealthy(time.Second) == nil
	})
	time.Sleep(10 * time.Second) // a leadership round or two of the resumed replica
	if now := leader(); now == first {
		t.Logf("the resumed replica %c leads again (it won a later election)", 'A'+first)
	}
	if n := sweeps(); n != 1 {
		t.Errorf("after the stopped leader resumed: %d sweep jobs today, want exactly 1", n)
	}
	rows := replicaCount(t, db, `SELECT count(*) FROM renewal_notices`)
	if rows != len(notices.due) {
		t.Errorf("%d notice rows, want %d", rows, len(notices.due))
	}
	waitLettersSettled(t, db)
	checkNoticeLetters(t, sink, notices.due)
	t.Logf("SIGSTOP of the leader for %v: handed over in %v; 1 sweep; %d notices, each delivered once", leaderStop, handover.Round(time.Millisecond), len(notices.due))
}
