// Persistence: a real vCenter keeps its inventory across a restart; the simulator keeps it in memory.
// With -state FILE the lab vCenter writes where every VM, host and datastore stands after each change
// (VM moves, folder moves, host disconnects; maintenance mode rides along with the next save), and
// replays that file on start, after building the plan. A test can then kill it mid-wave and restart it.
package main

import (
	"encoding/json"
	"io/ioutil"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type savedVM struct {
	Host      string `json:"host"`
	Datastore string `json:"datastore"`
	Folder    string `json:"folder"`
}

type savedHost struct {
	Maintenance  bool `json:"maintenance"`
	Disconnected bool `json:"disconnected"`
}

type savedState struct {
	VMs        map[string]savedVM   `json:"vms"`
	Hosts      map[string]savedHost `json:"hosts"`
	Datastores []string             `json:"datastores"`
}

// vmFolderPath is a VM's folder below its datacenter's vm folder ("" for the vm folder itself).
func vmFolderPath(parent *types.ManagedObjectReference) string {
	parts := []string{}
	for parent != nil {
		f, ok := simulator.Map.Get(*parent).(*simulator.Folder)
		if !ok || f.Name == "vm" {
			break
		}
		parts = append([]string{f.Name}, parts...)
		parent = f.Parent
	}
	return strings.Join(parts, "/")
}

func snapshot() savedState {
	st := savedState{VMs: map[string]savedVM{}, Hosts: map[string]savedHost{}}
	for _, obj := range simulator.Map.All("VirtualMachine") {
		vm := obj.(*simulator.VirtualMachine)
		s := savedVM{Folder: vmFolderPath(vm.Parent)}
		if vm.Runtime.Host != nil {
			if h, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
				s.Host = h.Name
			}
		}
		if len(vm.Datastore) > 0 {
			if ds, ok := simulator.Map.Get(vm.Datastore[0]).(*simulator.Datastore); ok {
				s.Datastore = ds.Name
			}
		}
		st.VMs[vm.Name] = s
	}
	for _, obj := range simulator.Map.All("HostSystem") {
		h := obj.(*simulator.HostSystem)
		st.Hosts[h.Name] = savedHost{Maintenance: h.Runtime.InMaintenanceMode,
			Disconnected: h.Runtime.ConnectionState == types.HostSystemConnectionStateDisconnected}
	}
	for _, obj := range simulator.Map.All("Datastore") {
		st.Datastores = append(st.Datastores, obj.(*simulator.Datastore).Name)
	}
	sort.Strings(st.Datastores)
	return st
}

// save writes the state file atomically (temporary file, then rename): a kill never leaves half a file.
func save(path string) {
	raw, err := json.MarshalIndent(snapshot(), "", " ")
	if err != nil {
		log.Printf("vcsim: state: %v", err)
		return
	}
	tmp := path + ".tmp"
	if err := ioutil.WriteFile(tmp, raw, 0o600); err != nil {
		log.Printf("vcsim: state: %v", err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		log.Printf("vcsim: state: %v", err)
	}
}

// restore replays a state file onto the freshly built plan, through the simulator's own API.
func restore(b *builder, path string) int {
	raw, err := ioutil.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	must(err, "state "+path)
	var st savedState
	must(json.Unmarshal(raw, &st), "state "+path)
	datastores := map[string]*simulator.Datastore{}
	for _, obj := range simulator.Map.All("Datastore") {
		ds := obj.(*simulator.Datastore)
		datastores[ds.Name] = ds
	}
	changed := 0
	now := snapshot()
	names := make([]string, 0, len(st.VMs))
	for name := range st.VMs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want, have := st.VMs[name], now.VMs[name]
		if want == have || want.Host == "" {
			continue
		}
		obj := simulator.Map.FindByName(name, allRefs("VirtualMachine"))
		host, okHost := b.hosts[want.Host]
		ds, okDs := datastores[want.Datastore]
		if obj == nil || !okHost || !okDs {
			log.Printf("vcsim: state: cannot replay VM %s to %s/%s", name, want.Host, want.Datastore)
			continue
		}
		vm := object.NewVirtualMachine(b.c, obj.Reference())
		hostRef, poolRef, dsRef := host.Reference(), b.pools[want.Host].Reference(), ds.Self
		if want.Host != have.Host || want.Datastore != have.Datastore {
			task, err := vm.Relocate(b.ctx, types.VirtualMachineRelocateSpec{Host: &hostRef, Pool: &poolRef, Datastore: &dsRef},
				types.VirtualMachineMovePriorityDefaultPriority)
			b.wait(task, err, "replay move of "+name)
		}
		if want.Folder != have.Folder {
			task, err := b.vmFolder(want.Folder).MoveInto(b.ctx, []types.ManagedObjectReference{obj.Reference()})
			b.wait(task, err, "replay folder of "+name)
		}
		changed++
	}
	for name, want := range st.Hosts {
		host, ok := b.hosts[name]
		if !ok {
			continue
		}
		hs := simulator.Map.Get(host.Reference()).(*simulator.HostSystem)
		if want.Maintenance && !hs.Runtime.InMaintenanceMode {
			task, err := host.EnterMaintenanceMode(b.ctx, 0, false, nil)
			b.wait(task, err, "replay maintenance of "+name)
			changed++
		}
		if want.Disconnected && hs.Runtime.ConnectionState != types.HostSystemConnectionStateDisconnected {
			simulator.Map.Update(hs, []types.PropertyChange{
				{Name: "runtime.connectionState", Val: types.HostSystemConnectionStateDisconnected}})
			changed++
		}
	}
	present := map[string]bool{}
	for _, name := range st.Datastores {
		present[name] = true
	}
	for name, ds := range datastores {
		if len(st.Datastores) > 0 && !present[name] {
			ctx := &simulator.Context{Context: b.ctx, Map: simulator.Map}
			if f := ds.DestroyTask(ctx, &types.Destroy_Task{This: ds.Self}).Fault(); f != nil {
				log.Printf("vcsim: state: cannot replay the removal of datastore %s: %s", name, f.String)
				continue
			}
			changed++
		}
	}
	log.Printf("vcsim: state: replayed %d change(s) from %s", changed, filepath.Base(path))
	return changed
}

func allRefs(kind string) []types.ManagedObjectReference {
	refs := []types.ManagedObjectReference{}
	for _, obj := range simulator.Map.All(kind) {
		refs = append(refs, obj.Reference())
	}
	return refs
}
