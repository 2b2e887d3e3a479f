// Command kube-control-plane is one multi-call binary holding a whole local Kubernetes control plane for
// batchyard's tests, demo and benchmarks: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kwok and a kubectl that matches them. It is built once (libs/localinfra/kube_build.py) and run through
// symlinks; the name it is invoked by picks the program. One binary compiles the shared Kubernetes packages once and links once, which is
// most of the build's cost (docs/adr/0009-kubernetes-control-plane-from-the-go-proxy.md).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

func main() {
	name := filepath.Base(os.Args[0])
	switch name {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kwok":
		os.Exit(runKwok())
	case "kubectl":
		runKubectl()
	default:
		fmt.Fprintf(os.Stderr, "kube-control-plane: run me as etcd, kube-apiserver, kube-controller-manager, "+
			"kube-scheduler, kwok or kubectl (a symlink of that name), not %q\n", name)
		os.Exit(2)
	}
}

// runKwok starts kwok the way its own command does: its global flags (logging, --config) first, then the
// controller command. Returns the process exit code.
func runKwok() int {
	// Kubernetes' packages register a global --version flag of their own type at init; kwok's command wants
	// cobra's boolean one, which cobra adds only when the global flag set has none. kwok needs no global flag.
	pflag.CommandLine = pflag.NewFlagSet(os.Args[0], pflag.ExitOnError)
	flags := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flags.ParseErrorsAllowlist.UnknownFlags = true
	flags.Usage = func() {}
	ctx := signals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, flags)
	ctx, err := kwokconfig.InitFlags(ctx, flags)
	if err != nil {
		logger.Error("kwok: reading its flags", "err", err)
		return 1
	}
	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flags)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok exited", "err", err)
		return 1
	}
	return 0
}

// runKubectl runs kubectl as its own command does: verbosity first (klog is used while the command is built).
func runKubectl() {
	logs.GlogSetter(kubectl.GetLogVerbosity(os.Args)) // nolint:errcheck
	if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
		kubectlutil.CheckErr(err)
	}
}
