package policy

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/nono-sandbox/nono/sandbox"
)

// gpuDevicePatterns are GPU compute device nodes (read-write files).
var gpuDevicePatterns = []string{
	"/dev/dri/renderD*",
	"/dev/nvidia[0-9]*",
	"/dev/nvidiactl",
	"/dev/nvidia-uvm",
	"/dev/nvidia-uvm-tools",
	"/dev/nvidia-caps/nvidia-cap*",
	"/dev/kfd",
	"/dev/dxg",
}

// gpuReadDirs are Vulkan/EGL ICD manifests and GPU sysfs (read-only).
var gpuReadDirs = []string{
	"/usr/share/vulkan/icd.d",
	"/usr/local/share/vulkan/icd.d",
	"/etc/vulkan/icd.d",
	"/usr/share/glvnd/egl_vendor.d",
	"/sys/class/drm",
	"/sys/module/nvidia",
	"/sys/module/amdgpu",
}

// GPUGrants returns the grants for --allow-gpu on Linux: read-write on the
// GPU compute device nodes present on this host and read on the Vulkan ICD
// manifests and GPU sysfs. Source is "system".
func GPUGrants() []sandbox.Grant { return gpuGrantsIn("/") }

func gpuGrantsIn(root string) []sandbox.Grant {
	var out []sandbox.Grant
	for _, pat := range gpuDevicePatterns {
		matches, _ := filepath.Glob(filepath.Join(root, pat))
		sort.Strings(matches)
		for _, m := range matches {
			canon, err := filepath.EvalSymlinks(m)
			if err != nil {
				continue
			}
			st, err := os.Stat(canon)
			if err != nil || st.IsDir() {
				continue
			}
			out = append(out, sandbox.Grant{Path: canon, Original: m, Access: sandbox.AccessReadWrite, File: true, Source: SourceSystem})
		}
	}
	for _, d := range gpuReadDirs {
		p := filepath.Join(root, d)
		canon, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if st, err := os.Stat(canon); err != nil || !st.IsDir() {
			continue
		}
		out = append(out, sandbox.Grant{Path: canon, Original: p, Access: sandbox.AccessRead, Source: SourceSystem})
	}
	return out
}
