package motiad

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
)

// argStartField is arg_start's place in /proc/PID/stat (proc(5)), counting from 1;
// arg_end follows it.
const argStartField = 48

// titleOf reads the title of a $/title notification's params.
func titleOf(raw json.RawMessage) (string, bool) {
	var params struct {
		Title *string `json:"title"`
	}
	if json.Unmarshal(raw, &params) != nil || params.Title == nil {
		return "", false
	}
	return *params.Title, true
}

// setTitle shows title as the process's command line (SPEC lifecycle.title):
// written over the argument area, whose bounds /proc/self/stat gives, through
// /proc/self/mem, cut to fit and padded with NULs; the last NUL stays. (Go's
// os.Args alias that area and read the title afterwards; the SDK never reads
// them.) False where there is no /proc.
func setTitle(title string) bool {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return false
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after it.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 || end+2 > len(stat) {
		return false
	}
	fields := bytes.Fields(stat[end+2:])
	if len(fields) <= argStartField-2 {
		return false
	}
	start, err1 := strconv.ParseInt(string(fields[argStartField-3]), 10, 64)
	stop, err2 := strconv.ParseInt(string(fields[argStartField-2]), 10, 64)
	if err1 != nil || err2 != nil || stop-start < 2 {
		return false
	}
	area := make([]byte, stop-start)
	copy(area[:len(area)-1], title)
	memory, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer memory.Close()
	_, err = memory.WriteAt(area, start)
	return err == nil
}
