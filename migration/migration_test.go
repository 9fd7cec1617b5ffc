package migration_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/regcenter/regcenter/migration"
)

func TestRead(t *testing.T) {
	ms, err := migration.Read(fstest.MapFS{
		"m/0002_events.sql":  {Data: []byte("CREATE TABLE e (x INT);")},
		"m/0001_initial.sql": {Data: []byte("CREATE TABLE d (x INT);")},
		"m/README":           {Data: []byte("not a migration")},
	}, "m")
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].Name != "0002_events.sql" || !strings.Contains(ms[1].SQL, "TABLE e") {
		t.Fatalf("Read = %+v, %v", ms, err)
	}
	for name, files := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no number": {"m/initial.sql": {}},
		"zero":      {"m/0000_a.sql": {}},
	} {
		if _, err := migration.Read(files, "m"); err == nil {
			t.Errorf("%s: Read accepted it", name)
		}
	}
}
