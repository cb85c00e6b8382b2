// kube-scheduler with scheduler-plugins' coscheduling plugin, as scheduler-plugins' own cmd/scheduler builds it (that
// binary registers many plugins; the gang test needs this one). Built by ../build.sh into bin/kube-scheduler-coscheduling.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	// The plugin's args types (CoschedulingArgs) in the scheduler's config scheme.
	_ "sigs.k8s.io/scheduler-plugins/apis/config/scheme"
	"sigs.k8s.io/scheduler-plugins/pkg/coscheduling"
)

func main() {
	command := app.NewSchedulerCommand(app.WithPlugin(coscheduling.Name, coscheduling.New))
	os.Exit(cli.Run(command))
}
