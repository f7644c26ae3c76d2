// What the 0.24.2 simulator lacks for a decommission, added the way a real vCenter behaves.
//
//   - placementBook keeps HostSystem.vm and Datastore.vm in step with each VM's runtime.host and
//     datastore. The simulator's RelocateVM_Task forgets to, and Destroy_Task / RemoveDatastore refuse
//     (ResourceInUse) on the strength of those lists.
//   - labSDK answers two methods the simulator does not implement, and passes every other SOAP call to
//     the simulator unchanged: HostSystem.DisconnectHost_Task and HostDatastoreSystem.RemoveDatastore
//     (refused with ResourceInUse while a VM still lives on the datastore, and with HostNotConnected
//     when its host is disconnected).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io/ioutil"
	"log"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type placement struct {
	host       *types.ManagedObjectReference
	datastores []types.ManagedObjectReference
}

// placementBook is a simulator RegisterObject: the registry calls UpdateObject on every property change.
type placementBook struct {
	mu        sync.Mutex
	vms       map[types.ManagedObjectReference]placement
	stateFile string // persist.go: saved after every change it sees, when set
}

func newPlacementBook() *placementBook {
	book := &placementBook{vms: map[types.ManagedObjectReference]placement{}}
	for _, obj := range simulator.Map.All("VirtualMachine") {
		vm := obj.(*simulator.VirtualMachine)
		book.vms[vm.Self] = placement{host: vm.Runtime.Host, datastores: append([]types.ManagedObjectReference(nil), vm.Datastore...)}
	}
	return book
}

func (b *placementBook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "JinbaoLabPlacementBook", Value: "placement-book"}
}

// PutObject sees a VM put back into the registry under its new folder (MoveIntoFolder_Task).
func (b *placementBook) PutObject(obj mo.Reference) {
	if _, ok := obj.(*simulator.VirtualMachine); ok && b.stateFile != "" {
		b.mu.Lock()
		save(b.stateFile)
		b.mu.Unlock()
	}
}

func (b *placementBook) RemoveObject(types.ManagedObjectReference) {}

func (b *placementBook) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	vm, ok := obj.(*mo.VirtualMachine)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.vms[vm.Self]
	for _, change := range changes {
		switch change.Name {
		case "runtime.host":
			if old.host != nil && vm.Runtime.Host != nil && *old.host != *vm.Runtime.Host {
				if h, ok := simulator.Map.Get(*old.host).(*simulator.HostSystem); ok {
					simulator.Map.RemoveReference(h, &h.Vm, vm.Self)
				}
				if h, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
					simulator.Map.AddReference(h, &h.Vm, vm.Self)
				}
			}
		case "datastore":
			for _, ref := range old.datastores {
				if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
					simulator.Map.RemoveReference(ds, &ds.Vm, vm.Self)
				}
			}
			for _, ref := range vm.Datastore {
				if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
					simulator.Map.AddReference(ds, &ds.Vm, vm.Self)
				}
			}
			if len(vm.Datastore) == 1 {
				moveFiles(vm, vm.Datastore[0])
			}
		}
	}
	b.vms[vm.Self] = placement{host: vm.Runtime.Host, datastores: append([]types.ManagedObjectReference(nil), vm.Datastore...)}
	if b.stateFile != "" {
		save(b.stateFile)
	}
}

var datastorePrefix = regexp.MustCompile(`^\[[^\]]*\]`)

// moveFiles points the VM's file paths at the datastore it was moved to, as a storage vMotion does. The
// simulator leaves them on the old datastore, and RefreshStorageInfo (which vmware_vmotion calls after a
// storage move) then looks that datastore up on the new host, finds nothing and panics.
func moveFiles(vm *mo.VirtualMachine, ref types.ManagedObjectReference) {
	ds, ok := simulator.Map.Get(ref).(*simulator.Datastore)
	if !ok || vm.Config == nil {
		return
	}
	prefix := "[" + ds.Name + "]"
	files := &vm.Config.Files
	for _, p := range []*string{&files.VmPathName, &files.SnapshotDirectory, &files.SuspendDirectory,
		&files.LogDirectory, &files.FtMetadataDirectory} {
		if *p != "" {
			*p = datastorePrefix.ReplaceAllLiteralString(*p, prefix)
		}
	}
	for _, device := range vm.Config.Hardware.Device {
		if disk, ok := device.(*types.VirtualDisk); ok {
			if backing, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				info := backing.GetVirtualDeviceFileBackingInfo()
				info.FileName = datastorePrefix.ReplaceAllLiteralString(info.FileName, prefix)
				info.Datastore = &ds.Self
			}
		}
	}
	for i := range vm.LayoutEx.File {
		vm.LayoutEx.File[i].Name = datastorePrefix.ReplaceAllLiteralString(vm.LayoutEx.File[i].Name, prefix)
	}
}

var (
	thisRef      = regexp.MustCompile(`<_this[^>]*type="([A-Za-z]+)"[^>]*>([^<]+)</_this>`)
	datastoreRef = regexp.MustCompile(`<datastore[^>]*>([^<]+)</datastore>`)
)

// labSDK serves /sdk: the two added methods here, everything else by the simulator.
func labSDK(svc *simulator.Service, book *placementBook) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			svc.ServeSDK(w, r)
			return
		}
		body, err := ioutil.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = ioutil.NopCloser(bytes.NewReader(body))
		text := string(body)
		disconnect := strings.Contains(text, "<DisconnectHost_Task")
		remove := strings.Contains(text, "<RemoveDatastore")
		if strings.Contains(text, "<MoveIntoFolder_Task") && refusedFolderMove(text) {
			soapFault(w, "the folder move was refused (a lab fault, see faults.json)", "InvalidStateFault", "InvalidState", "")
			return
		}
		if !disconnect && !remove {
			svc.ServeSDK(w, r)
			return
		}
		if _, err := r.Cookie(soap.SessionCookieName); err != nil {
			soapFault(w, "not authenticated", "NotAuthenticatedFault", "NotAuthenticated", "")
			return
		}
		this := thisRef.FindStringSubmatch(text)
		if this == nil {
			soapFault(w, "no _this in the request", "InvalidArgumentFault", "InvalidArgument", "")
			return
		}
		ref := types.ManagedObjectReference{Type: this[1], Value: this[2]}
		if disconnect {
			disconnectHost(w, ref)
		} else {
			removeDatastore(w, ref, datastoreRef.FindStringSubmatch(text))
		}
		if book.stateFile != "" {
			book.mu.Lock()
			save(book.stateFile)
			book.mu.Unlock()
		}
	}
}

// faultsFile is a JSON file read on every folder move, for tests: {"refuse_folder_moves": ["vm name", ...]}
// makes vCenter refuse to move those VMs between folders, after their relocation succeeded.
var faultsFile string

var listRef = regexp.MustCompile(`<list[^>]*type="VirtualMachine"[^>]*>([^<]+)</list>`)

func refusedFolderMove(text string) bool {
	if faultsFile == "" {
		return false
	}
	raw, err := ioutil.ReadFile(faultsFile)
	if err != nil {
		return false
	}
	var faults struct {
		RefuseFolderMoves []string `json:"refuse_folder_moves"`
	}
	if json.Unmarshal(raw, &faults) != nil {
		return false
	}
	for _, m := range listRef.FindAllStringSubmatch(text, -1) {
		vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: m[1]}).(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		for _, name := range faults.RefuseFolderMoves {
			if name == vm.Name {
				return true
			}
		}
	}
	return false
}

func disconnectHost(w http.ResponseWriter, ref types.ManagedObjectReference) {
	host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
	if !ok {
		soapFault(w, fmt.Sprintf("managed object not found: %s", ref), "ManagedObjectNotFoundFault", "ManagedObjectNotFound", "")
		return
	}
	task := simulator.CreateTask(host, "disconnectHost", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		simulator.Map.WithLock(host, func() {
			simulator.Map.Update(host, []types.PropertyChange{
				{Name: "runtime.connectionState", Val: types.HostSystemConnectionStateDisconnected},
			})
		})
		return nil, nil
	})
	taskRef := task.Run()
	log.Printf("vcsim: DisconnectHost_Task %s (%s): %s", host.Name, host.Self.Value, taskRef.Value)
	soapOK(w, fmt.Sprintf(`<DisconnectHost_TaskResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></DisconnectHost_TaskResponse>`, taskRef.Value))
}

func removeDatastore(w http.ResponseWriter, dssRef types.ManagedObjectReference, dsMatch []string) {
	dss, ok := simulator.Map.Get(dssRef).(*simulator.HostDatastoreSystem)
	if !ok || dsMatch == nil {
		soapFault(w, fmt.Sprintf("RemoveDatastore needs a HostDatastoreSystem and a datastore (%s)", dssRef), "InvalidArgumentFault", "InvalidArgument", "")
		return
	}
	ds, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "Datastore", Value: dsMatch[1]}).(*simulator.Datastore)
	if !ok {
		soapFault(w, fmt.Sprintf("managed object not found: Datastore:%s", dsMatch[1]), "ManagedObjectNotFoundFault", "ManagedObjectNotFound", "")
		return
	}
	if dss.Host != nil && dss.Host.Runtime.ConnectionState != types.HostSystemConnectionStateConnected {
		soapFault(w, fmt.Sprintf("host %s is %s", dss.Host.Name, dss.Host.Runtime.ConnectionState), "HostNotConnectedFault", "HostNotConnected", "")
		return
	}
	if len(ds.Vm) > 0 {
		names := []string{}
		for _, ref := range ds.Vm {
			if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
				names = append(names, vm.Name)
			}
		}
		soapFault(w, fmt.Sprintf("datastore %s still holds %s", ds.Name, strings.Join(names, ", ")), "ResourceInUseFault", "ResourceInUse",
			fmt.Sprintf("<type>Datastore</type><name>%s</name>", xmlEscape(ds.Name)))
		return
	}
	ctx := &simulator.Context{Context: context.Background(), Map: simulator.Map}
	res := ds.DestroyTask(ctx, &types.Destroy_Task{This: ds.Self})
	if f := res.Fault(); f != nil {
		soapFault(w, f.String, "SystemErrorFault", "SystemError", "")
		return
	}
	if body, ok := res.(*methods.Destroy_TaskBody); ok && body.Res != nil {
		if t, ok := simulator.Map.Get(body.Res.Returnval).(*simulator.Task); ok && t.Info.Error != nil {
			soapFault(w, t.Info.Error.LocalizedMessage, "ResourceInUseFault", "ResourceInUse", "")
			return
		}
	}
	log.Printf("vcsim: RemoveDatastore %s (%s)", ds.Name, ds.Self.Value)
	soapOK(w, `<RemoveDatastoreResponse xmlns="urn:vim25"></RemoveDatastoreResponse>`)
}

func xmlEscape(s string) string {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s))
	return buf.String()
}

const envelope = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" ` +
	`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`

func soapOK(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, envelope, body)
}

func soapFault(w http.ResponseWriter, msg, element, kind, detail string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, envelope, fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring>`+
		`<detail><%s xmlns="urn:vim25" xsi:type="%s">%s</%s></detail></soapenv:Fault>`, xmlEscape(msg), element, kind, detail, element))
}
