package testbed

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Fixed names on the host: one test bed at a time per machine (see lock).
const (
	bridge     = "br-dh"
	bridgeCIDR = "10.99.0.1/24"
	// BridgeAddr is the host's address on the test bed's bridge; nodes reach
	// the host (and the registry forwarder) there.
	BridgeAddr = "10.99.0.1"
	stateRoot  = "/var/lib/deckhand-testbed"
	execRoot   = "/run/dhtb"
	lockPath   = "/run/deckhand-testbed.lock"
	maxNodes   = 9
)

// forwardRule is the iptables FORWARD rule that lets bridged traffic between
// the namespaces through the host dockerd's DROP policy.
var forwardRule = []string{"FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"}

// netnsName is node n's (1-based) network namespace, also its cgroup parent.
func netnsName(n int) string { return fmt.Sprintf("dh%d", n) }

// netnsPath is where "ip netns add" binds the namespace named ns.
func netnsPath(ns string) string { return filepath.Join("/var/run/netns", ns) }

// nodeAddr is node n's (1-based) address on the bridge.
func nodeAddr(n int) string { return fmt.Sprintf("10.99.0.1%d", n) }

// socketPath is node n's (1-based) engine socket.
func socketPath(n int) string { return fmt.Sprintf("/run/dh%d.sock", n) }

// run runs a host command and returns its error with the command's output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupBridge creates the bridge with the host's address and the FORWARD rule.
func setupBridge() error {
	for _, args := range [][]string{
		{"link", "add", bridge, "type", "bridge"},
		{"addr", "add", bridgeCIDR, "dev", bridge},
		{"link", "set", bridge, "up"},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return run("iptables", append([]string{"-w", "-I"}, forwardRule...)...)
}

// setupNetns creates node n's namespace and wires it to the bridge as eth0.
func setupNetns(n int) error {
	ns, host, peer := netnsName(n), fmt.Sprintf("v%s", netnsName(n)), fmt.Sprintf("v%sp", netnsName(n))
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", host, "master", bridge},
		{"link", "set", host, "up"},
		{"link", "set", peer, "netns", ns},
		{"-n", ns, "link", "set", peer, "name", "eth0"},
		{"-n", ns, "addr", "add", nodeAddr(n) + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "route", "add", "default", "via", BridgeAddr},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// cleanupHost removes everything a test bed (this one or a crashed earlier
// one) may have left on the host, and reports what it could not remove.
func cleanupHost() error {
	var errs []error
	for n := 1; n <= maxNodes; n++ {
		errs = append(errs, cleanupNode(n)...)
	}
	unmountUnder(stateRoot, execRoot)
	if linkExists(bridge) {
		if err := run("ip", "link", "del", bridge); err != nil {
			errs = append(errs, err)
		}
	}
	for range 10 {
		if exec.Command("iptables", append([]string{"-w", "-C"}, forwardRule...)...).Run() != nil {
			break
		}
		if err := run("iptables", append([]string{"-w", "-D"}, forwardRule...)...); err != nil {
			errs = append(errs, err)
			break
		}
	}
	for _, dir := range []string{stateRoot, execRoot} {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// cleanupNode kills every process of node n (in its namespace or its
// cgroups), then removes its mounts, cgroups, namespace and socket.
func cleanupNode(n int) []error {
	var errs []error
	ns := netnsName(n)
	nsPath := netnsPath(ns)
	_, nsErr := os.Stat(nsPath)
	cgroups := cgroupDirs(ns)
	if nsErr != nil && len(cgroups) == 0 {
		_ = os.Remove(socketPath(n))
		return nil
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := append(pidsInNetns(nsPath), pidsInCgroups(cgroups)...)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("node %d: processes %v survive SIGKILL", n, pids))
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	unmountUnder(filepath.Join(stateRoot, ns), filepath.Join(execRoot, ns))
	for _, dir := range cgroups {
		removeCgroup(dir)
	}
	if nsErr == nil {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if link := "v" + ns; linkExists(link) {
		_ = run("ip", "link", "del", link)
	}
	if err := os.Remove(socketPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errs
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// pidsInNetns lists the processes whose network namespace is the one bound at nsPath.
func pidsInNetns(nsPath string) []int {
	var want syscall.Stat_t
	if syscall.Stat(nsPath, &want) != nil {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupDirs lists the cgroup directories named name directly under each
// hierarchy (cgroup v1) or the unified root (v2): the --cgroup-parent of a node.
func cgroupDirs(name string) []string {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	if fi, err := os.Stat(filepath.Join("/sys/fs/cgroup", name)); err == nil && fi.IsDir() {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", name))
	}
	return dirs
}

// pidsInCgroups lists every process in the cgroup trees under dirs.
func pidsInCgroups(dirs []string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeCgroup removes an emptied cgroup tree, deepest directories first.
func removeCgroup(dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = syscall.Rmdir(dirs[i])
	}
}

// unmountUnder detaches every mount in this mount namespace below the given
// directories, deepest first.
func unmountUnder(roots ...string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		for _, r := range roots {
			if p == r || strings.HasPrefix(p, r+"/") {
				points = append(points, p)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
