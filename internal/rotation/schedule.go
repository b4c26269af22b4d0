package rotation

import (
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/robfig/cron/v3"
)

// MaxScheduleBytes is the longest schedule expression.
const MaxScheduleBytes = 100

// scheduleHorizon is how far ahead a schedule must have a next time.
const scheduleHorizon = 5 * 366 * 24 * time.Hour

// Schedule is a parsed cron-like schedule.
type Schedule interface {
	// Next returns the first time after t that the schedule matches, or
	// the zero time when there is none.
	Next(t time.Time) time.Time
}

// ParseSchedule parses a standard five-field cron expression (minute,
// hour, day of month, month, day of week, in UTC) or one of the
// descriptors @yearly, @monthly, @weekly, @daily and @hourly. @every and
// time zone prefixes are refused ("period" says the first; schedules are
// UTC). Errors are [logical.ErrInvalidRequest].
func ParseSchedule(expr string) (Schedule, error) {
	if len(expr) > MaxScheduleBytes {
		return nil, logical.InvalidRequest("\"schedule\" is longer than %d bytes", MaxScheduleBytes)
	}
	e := strings.TrimSpace(expr)
	switch {
	case e == "":
		return nil, logical.InvalidRequest("\"schedule\" is empty")
	case strings.HasPrefix(e, "@every"):
		return nil, logical.InvalidRequest("\"schedule\" does not take @every; set \"period\" instead")
	case strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ="):
		return nil, logical.InvalidRequest("\"schedule\" is always UTC; remove the time zone")
	case !strings.HasPrefix(e, "@") && len(strings.Fields(e)) != 5:
		return nil, logical.InvalidRequest("\"schedule\" must have five fields (minute hour day-of-month month day-of-week), as in \"0 3 * * 1\"")
	}
	s, err := cron.ParseStandard(e)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid \"schedule\": " + err.Error(), Err: err}
	}
	probe := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if n := s.Next(probe); n.IsZero() || n.Sub(probe) > scheduleHorizon {
		return nil, logical.InvalidRequest("\"schedule\" never matches a date")
	}
	return utc{s}, nil
}

// utc evaluates a cron schedule in UTC.
type utc struct{ s cron.Schedule }

func (u utc) Next(t time.Time) time.Time { return u.s.Next(t.UTC()) }
