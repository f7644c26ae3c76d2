// vcsim: the lab vCenter. govmomi's simulator (Debian's golang-github-vmware-govmomi-dev 0.24.2),
// shaped into the jinbao-dc facility from a plan that lab/vcsim/seed.py expands from topology.yml,
// served over HTTPS with a lab-CA certificate, accepting only the one username/password it is given.
//
// Build: GOPATH=/usr/share/gocode GO111MODULE=off go build -o .cache/build/vcsim main.go
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Plan is the expanded topology written by seed.py (only the fields the simulator needs).
type Plan struct {
	Datacenter   string       `json:"datacenter"`
	CustomFields []string     `json:"custom_fields"`
	HostFolders  []string     `json:"host_folders"`
	Clusters     []Cluster    `json:"clusters"`
	Standalone   []Host       `json:"standalone_hosts"`
	VMFolders    []string     `json:"vm_folders"`
	VMs          []VM         `json:"vms"`
	Datastores   []DatastoreP `json:"datastores"`
}

type Cluster struct {
	Name   string `json:"name"`
	Folder string `json:"folder"`
	Hosts  []Host `json:"hosts"`
}

type Host struct {
	Name     string `json:"name"`
	Folder   string `json:"folder"`
	CPUCores int16  `json:"cpu_cores"`
	MemoryMB int64  `json:"memory_mb"`
	Vendor   string `json:"vendor"`
	Model    string `json:"model"`
}

// DatastoreP is a datastore mounted on one or more hosts (the first host creates it).
type DatastoreP struct {
	Name       string   `json:"name"`
	CapacityGB int64    `json:"capacity_gb"`
	Hosts      []string `json:"hosts"`
}

type VM struct {
	Name      string            `json:"name"`
	Folder    string            `json:"folder"`
	Host      string            `json:"host"`
	Datastore string            `json:"datastore"`
	CPU       int32             `json:"cpu"`
	MemoryMB  int64             `json:"memory_mb"`
	DiskGB    int64             `json:"disk_gb"`
	PowerOn   bool              `json:"power_on"`
	Fields    map[string]string `json:"fields"`
}

type builder struct {
	ctx     context.Context
	c       *vim25.Client
	folders *object.DatacenterFolders
	hosts   map[string]*object.HostSystem
	pools   map[string]*object.ResourcePool
	hfold   map[string]*object.Folder
	vfold   map[string]*object.Folder
	fields  map[string]int32
	dsDir   string
}

func must(err error, what string) {
	if err != nil {
		log.Fatalf("vcsim: %s: %v", what, err)
	}
}

// wait returns a task's result. Simulator tasks run synchronously, so the task is finished when the call
// returns; reading it from the registry avoids a PropertyCollector wait (and its 250 ms ticker) per task.
func (b *builder) wait(task *object.Task, err error, what string) types.ManagedObjectReference {
	must(err, what)
	t, ok := simulator.Map.Get(task.Reference()).(*simulator.Task)
	if !ok {
		info, err := task.WaitForResult(b.ctx, nil)
		must(err, what)
		ref, _ := info.Result.(types.ManagedObjectReference)
		return ref
	}
	if t.Info.Error != nil {
		log.Fatalf("vcsim: %s: %s", what, t.Info.Error.LocalizedMessage)
	}
	ref, _ := t.Info.Result.(types.ManagedObjectReference)
	return ref
}

func (b *builder) hostFolder(name string) *object.Folder {
	if name == "" {
		return b.folders.HostFolder
	}
	if f, ok := b.hfold[name]; ok {
		return f
	}
	f, err := b.folders.HostFolder.CreateFolder(b.ctx, name)
	must(err, "host folder "+name)
	b.hfold[name] = f
	return f
}

// vmFolder creates "zone/system" style paths below the datacenter's vm folder.
func (b *builder) vmFolder(p string) *object.Folder {
	if p == "" {
		return b.folders.VmFolder
	}
	if f, ok := b.vfold[p]; ok {
		return f
	}
	parent := b.folders.VmFolder
	if i := strings.LastIndex(p, "/"); i >= 0 {
		parent = b.vmFolder(p[:i])
	}
	f, err := parent.CreateFolder(b.ctx, filepath.Base(p))
	must(err, "vm folder "+p)
	b.vfold[p] = f
	return f
}

func (b *builder) shapeHost(ref types.ManagedObjectReference, h Host) {
	hs := simulator.Map.Get(ref).(*simulator.HostSystem)
	hw := hs.Summary.Hardware
	if h.CPUCores > 0 {
		hw.NumCpuCores = h.CPUCores
		hw.NumCpuThreads = 2 * h.CPUCores
		hs.Hardware.CpuInfo.NumCpuCores = h.CPUCores
		hs.Hardware.CpuInfo.NumCpuThreads = 2 * h.CPUCores
	}
	if h.MemoryMB > 0 {
		hw.MemorySize = h.MemoryMB * 1024 * 1024
		hs.Hardware.MemorySize = hw.MemorySize
	}
	if h.Vendor != "" {
		hw.Vendor, hw.Model = h.Vendor, h.Model
	}
	b.hosts[h.Name] = object.NewHostSystem(b.c, ref)
}

func (b *builder) addCluster(cl Cluster) {
	cluster, err := b.hostFolder(cl.Folder).CreateCluster(b.ctx, cl.Name, types.ClusterConfigSpecEx{})
	must(err, "cluster "+cl.Name)
	pool, err := cluster.ResourcePool(b.ctx)
	must(err, "cluster pool "+cl.Name)
	for _, h := range cl.Hosts {
		task, err := cluster.AddHost(b.ctx, types.HostConnectSpec{HostName: h.Name}, true, nil, nil)
		ref := b.wait(task, err, "cluster host "+h.Name)
		b.shapeHost(ref, h)
		b.pools[h.Name] = pool
	}
}

func (b *builder) addStandalone(h Host) {
	task, err := b.hostFolder(h.Folder).AddStandaloneHost(b.ctx, types.HostConnectSpec{HostName: h.Name}, true, nil, nil)
	ref := b.wait(task, err, "standalone host "+h.Name)
	b.shapeHost(ref, h)
	pool, err := b.hosts[h.Name].ResourcePool(b.ctx)
	must(err, "host pool "+h.Name)
	b.pools[h.Name] = pool
}

// addDatastore creates the datastore on its first host and mounts it on the others. The 0.24.2
// simulator replaces a datastore object when a second host creates one with the same path, so the
// shared mounts are recorded directly in the simulator's registry instead.
func (b *builder) addDatastore(d DatastoreP) {
	dir := filepath.Join(b.dsDir, d.Name)
	must(os.MkdirAll(dir, 0o700), "datastore dir "+dir)
	first := b.hosts[d.Hosts[0]]
	dss, err := first.ConfigManager().DatastoreSystem(b.ctx)
	must(err, "datastore system of "+d.Hosts[0])
	obj, err := dss.CreateLocalDatastore(b.ctx, d.Name, dir)
	must(err, "datastore "+d.Name)
	ds := simulator.Map.Get(obj.Reference()).(*simulator.Datastore)
	for _, name := range d.Hosts[1:] {
		hs := simulator.Map.Get(b.hosts[name].Reference()).(*simulator.HostSystem)
		hdss := simulator.Map.Get(*hs.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
		hdss.Datastore = append(hdss.Datastore, ds.Self)
		hs.Datastore = hdss.Datastore
		switch parent := simulator.Map.Get(*hs.Parent).(type) {
		case *simulator.ClusterComputeResource:
			simulator.Map.AddReference(parent, &parent.Datastore, ds.Self)
		case *mo.ComputeResource:
			simulator.Map.AddReference(parent, &parent.Datastore, ds.Self)
		}
		ds.Host = append(ds.Host, types.DatastoreHostMount{
			Key: hs.Self,
			MountInfo: types.HostMountInfo{
				AccessMode: string(types.HostMountModeReadWrite),
				Mounted:    types.NewBool(true),
				Accessible: types.NewBool(true),
			},
		})
	}
	if d.CapacityGB > 0 {
		capacity := d.CapacityGB << 30
		info := ds.Info.GetDatastoreInfo()
		info.FreeSpace = capacity
		info.MaxFileSize = capacity
		ds.Summary.Capacity = capacity
		ds.Summary.FreeSpace = capacity
		ds.Summary.Type = "VMFS"
		if len(d.Hosts) > 1 {
			ds.Summary.MultipleHostAccess = types.NewBool(true)
		}
	}
}

func (b *builder) addVM(v VM) {
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	must(err, "scsi controller")
	devices = append(devices, scsi)
	dsPath := fmt.Sprintf("[%s] %s", v.Datastore, v.Name)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
		dsPath+"/"+v.Name+".vmdk")
	disk.CapacityInKB = v.DiskGB << 20
	disk.CapacityInBytes = v.DiskGB << 30
	devices = append(devices, disk)
	nic, err := devices.CreateEthernetCard("vmxnet3", &types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"},
	})
	must(err, "nic")
	devices = append(devices, nic)
	spec := types.VirtualMachineConfigSpec{
		Name:     v.Name,
		GuestId:  string(types.VirtualMachineGuestOsIdentifierRhel7_64Guest),
		NumCPUs:  v.CPU,
		MemoryMB: v.MemoryMB,
		Files:    &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s]", v.Datastore)},
	}
	spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	must(err, "devices of "+v.Name)
	host, ok := b.hosts[v.Host]
	if !ok {
		log.Fatalf("vcsim: vm %s: unknown host %q", v.Name, v.Host)
	}
	task, err := b.vmFolder(v.Folder).CreateVM(b.ctx, spec, b.pools[v.Host], host)
	ref := b.wait(task, err, "vm "+v.Name)
	vm := object.NewVirtualMachine(b.c, ref)
	if v.PowerOn {
		task, err := vm.PowerOn(b.ctx)
		b.wait(task, err, "power on "+v.Name)
	}
	if len(v.Fields) > 0 {
		cfm := object.NewCustomFieldsManager(b.c)
		for _, name := range sortedKeys(v.Fields) {
			key, ok := b.fields[name]
			if !ok {
				log.Fatalf("vcsim: vm %s: custom field %q is not in custom_fields", v.Name, name)
			}
			must(cfm.Set(b.ctx, ref, key, v.Fields[name]), "custom field "+name+" of "+v.Name)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func build(ctx context.Context, model *simulator.Model, plan *Plan, dsDir string) *builder {
	c, err := vim25.NewClient(ctx, model.Service)
	must(err, "in-process client")
	root := object.NewRootFolder(c)
	dc, err := root.CreateDatacenter(ctx, plan.Datacenter)
	must(err, "datacenter "+plan.Datacenter)
	folders, err := dc.Folders(ctx)
	must(err, "datacenter folders")
	b := &builder{ctx: ctx, c: c, folders: folders, dsDir: dsDir,
		hosts: map[string]*object.HostSystem{}, pools: map[string]*object.ResourcePool{},
		hfold: map[string]*object.Folder{}, vfold: map[string]*object.Folder{}, fields: map[string]int32{}}
	phase := time.Now()
	lap := func(what string) {
		log.Printf("vcsim: %s in %.2fs", what, time.Since(phase).Seconds())
		phase = time.Now()
	}
	for _, name := range plan.HostFolders {
		b.hostFolder(name)
	}
	for _, cl := range plan.Clusters {
		b.addCluster(cl)
	}
	for _, h := range plan.Standalone {
		b.addStandalone(h)
	}
	lap(fmt.Sprintf("%d clusters, %d standalone hosts", len(plan.Clusters), len(plan.Standalone)))
	for _, d := range plan.Datastores {
		b.addDatastore(d)
	}
	lap(fmt.Sprintf("%d datastores", len(plan.Datastores)))
	cfm := object.NewCustomFieldsManager(c)
	for _, name := range plan.CustomFields {
		def, err := cfm.Add(ctx, name, "VirtualMachine", nil, nil)
		must(err, "custom field "+name)
		b.fields[name] = def.Key
	}
	for _, p := range plan.VMFolders {
		b.vmFolder(p)
	}
	for _, v := range plan.VMs {
		b.addVM(v)
	}
	lap(fmt.Sprintf("%d VMs", len(plan.VMs)))
	return b
}

func main() {
	listen := flag.String("listen", "127.0.0.1:18443", "address:port to serve on (loopback only)")
	certFile := flag.String("cert", "", "TLS certificate (PEM)")
	keyFile := flag.String("key", "", "TLS private key (PEM)")
	username := flag.String("username", "", "the only username accepted")
	passwordFile := flag.String("password-file", "", "file holding the only password accepted")
	planFile := flag.String("plan", "", "expanded topology (JSON from seed.py)")
	dsDir := flag.String("datastores", "datastores", "directory that backs the simulated datastores")
	flag.StringVar(&faultsFile, "faults", "", "JSON file of faults to inject, read on every call it concerns (extend.go)")
	stateFile := flag.String("state", "", "keep the inventory's changes in this file across restarts (persist.go)")
	relocateMs := flag.Int("relocate-delay-ms", 0, "milliseconds each RelocateVM_Task takes (a real vMotion copies memory and disks)")
	flag.Parse()
	log.SetFlags(log.LstdFlags)

	if *certFile == "" || *keyFile == "" || *username == "" || *passwordFile == "" || *planFile == "" {
		log.Fatal("vcsim: -cert, -key, -username, -password-file and -plan are required")
	}
	if !strings.HasPrefix(*listen, "127.") {
		log.Fatalf("vcsim: -listen %s is not on loopback (127.0.0.0/8); refusing", *listen)
	}
	secret, err := ioutil.ReadFile(*passwordFile)
	must(err, "password file")
	password := strings.TrimSpace(string(secret))
	if password == "" {
		log.Fatal("vcsim: the password file is empty")
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	must(err, "certificate")
	raw, err := ioutil.ReadFile(*planFile)
	must(err, "plan")
	var plan Plan
	must(json.Unmarshal(raw, &plan), "plan "+*planFile)

	// The datastores are real directories; a fresh start means fresh (empty) datastores.
	must(os.RemoveAll(*dsDir), "clear datastores")
	must(os.MkdirAll(*dsDir, 0o700), "datastores dir")
	abs, err := filepath.Abs(*dsDir)
	must(err, "datastores dir")

	model := simulator.VPX()
	model.Datacenter, model.Portgroup, model.Host, model.Cluster = 0, 0, 0, 0
	model.ClusterHost, model.Datastore, model.Machine = 0, 0, 0
	model.Autostart = false
	must(model.Create(), "empty inventory")

	start := time.Now()
	ctx := context.Background()
	b := build(ctx, model, &plan, abs)
	// Keep HostSystem.vm and Datastore.vm true after moves (extend.go), replay the saved state, then save
	// after every change from now on.
	book := newPlacementBook()
	simulator.Map.AddHandler(book)
	if *stateFile != "" {
		restore(b, *stateFile)
		book.stateFile = *stateFile
		save(*stateFile)
	}
	hosts := len(plan.Standalone)
	for _, cl := range plan.Clusters {
		hosts += len(cl.Hosts)
	}
	if *relocateMs > 0 { // after the build, which moves nothing; the simulator reads the map on every call
		model.DelayConfig.MethodDelay = map[string]int{"RelocateVM_Task": *relocateMs}
	}
	log.Printf("vcsim: seeded %d VMs on %d hosts, %d datastores in %.2fs",
		len(plan.VMs), hosts, len(plan.Datastores), time.Since(start).Seconds())

	// Only this username/password logs in (the simulator accepts anything when Listen.User is
	// unset or is simulator.DefaultLogin).
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, password)}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	model.Service.RegisterEndpoints = true
	// Answer DisconnectHost_Task and RemoveDatastore (extend.go); a host-specific pattern takes precedence
	// over the simulator's /sdk.
	model.Service.ServeMux = http.NewServeMux()
	host := *listen // ServeMux matches the Host header without its port
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	model.Service.ServeMux.HandleFunc(host+"/sdk", labSDK(model.Service, book))
	server := model.Service.NewServer()

	shown := *server.URL
	shown.User = url.User(*username)
	fmt.Printf("vcsim: serving %s\n", shown.String())
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	log.Printf("vcsim: %s: shutting down", got)
	server.Close()
	model.Remove()
	_ = os.RemoveAll(abs)
}
