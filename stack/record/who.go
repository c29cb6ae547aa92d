package record

import (
	"cmp"
	"fmt"
	"strings"
)

// Who is the run that wrote a record: a person at a machine, or a CI job.
type Who struct {
	User string `json:"user,omitempty"`
	Host string `json:"host,omitempty"`
	CI   *CI    `json:"ci,omitempty"`
}

// CI is what a CI system's environment says about the job that runs deckhand.
type CI struct {
	Provider Provider `json:"provider"`
	Commit   string   `json:"commit,omitempty"`   // the commit built
	Ref      string   `json:"ref,omitempty"`      // branch or tag
	Pipeline string   `json:"pipeline,omitempty"` // pipeline, run, workflow or build id
	Job      string   `json:"job,omitempty"`      // job id or name
	Actor    string   `json:"actor,omitempty"`    // who started it
	URL      string   `json:"url,omitempty"`      // a link to the job or pipeline
}

// Provider names a CI system.
type Provider string

// CI systems deckhand recognizes from their environment variables.
const (
	ProviderGitHubActions Provider = "github-actions"
	ProviderGitLab        Provider = "gitlab"
	ProviderJenkins       Provider = "jenkins"
	ProviderBuildkite     Provider = "buildkite"
	ProviderCircleCI      Provider = "circleci"
	ProviderGeneric       Provider = "ci" // CI=true and nothing more specific
)

// DetectCI reads the CI job from an environment; nil when it is no CI job.
func DetectCI(env map[string]string) *CI {
	switch {
	case env["GITHUB_ACTIONS"] == "true":
		run := env["GITHUB_RUN_ID"]
		if a := env["GITHUB_RUN_ATTEMPT"]; a != "" && a != "1" && run != "" {
			run += "." + a
		}
		url := ""
		if s, r, id := env["GITHUB_SERVER_URL"], env["GITHUB_REPOSITORY"], env["GITHUB_RUN_ID"]; s != "" && r != "" && id != "" {
			url = s + "/" + r + "/actions/runs/" + id
		}
		return &CI{Provider: ProviderGitHubActions, Commit: env["GITHUB_SHA"], Ref: env["GITHUB_REF_NAME"],
			Pipeline: run, Job: env["GITHUB_JOB"], Actor: env["GITHUB_ACTOR"], URL: url}
	case env["GITLAB_CI"] == "true":
		return &CI{Provider: ProviderGitLab, Commit: env["CI_COMMIT_SHA"], Ref: env["CI_COMMIT_REF_NAME"],
			Pipeline: env["CI_PIPELINE_ID"], Job: env["CI_JOB_ID"], Actor: env["GITLAB_USER_LOGIN"], URL: env["CI_JOB_URL"]}
	case env["BUILDKITE"] == "true":
		return &CI{Provider: ProviderBuildkite, Commit: env["BUILDKITE_COMMIT"], Ref: env["BUILDKITE_BRANCH"],
			Pipeline: env["BUILDKITE_BUILD_NUMBER"], Job: env["BUILDKITE_JOB_ID"], Actor: env["BUILDKITE_BUILD_CREATOR"], URL: env["BUILDKITE_BUILD_URL"]}
	case env["CIRCLECI"] == "true":
		return &CI{Provider: ProviderCircleCI, Commit: env["CIRCLE_SHA1"], Ref: cmp.Or(env["CIRCLE_BRANCH"], env["CIRCLE_TAG"]),
			Pipeline: env["CIRCLE_WORKFLOW_ID"], Job: env["CIRCLE_BUILD_NUM"], Actor: env["CIRCLE_USERNAME"], URL: env["CIRCLE_BUILD_URL"]}
	case env["JENKINS_URL"] != "" || env["JENKINS_HOME"] != "":
		job := env["JOB_NAME"]
		if n := env["BUILD_NUMBER"]; n != "" {
			job += "#" + n
		}
		return &CI{Provider: ProviderJenkins, Commit: env["GIT_COMMIT"], Ref: cmp.Or(env["GIT_BRANCH"], env["BRANCH_NAME"]),
			Pipeline: env["BUILD_TAG"], Job: job, Actor: env["BUILD_USER_ID"], URL: env["BUILD_URL"]}
	case strings.EqualFold(env["CI"], "true"):
		return &CI{Provider: ProviderGeneric, Commit: env["CI_COMMIT_SHA"]}
	}
	return nil
}

// String names the run for a table: root@vm, or github-actions alice run 1234.
func (w Who) String() string {
	if w.CI != nil {
		s := string(w.CI.Provider)
		if w.CI.Actor != "" {
			s += " " + w.CI.Actor
		}
		switch {
		case w.CI.Pipeline != "":
			s += " " + w.CI.Pipeline
		case w.CI.Job != "":
			s += " " + w.CI.Job
		}
		return s
	}
	switch {
	case w.User != "" && w.Host != "":
		return w.User + "@" + w.Host
	case w.User != "" || w.Host != "":
		return w.User + w.Host
	}
	return "unknown"
}

// Commit is the commit the run deployed, shortened to 12 digits; "" when unknown.
func (w Who) Commit() string {
	if w.CI == nil || w.CI.Commit == "" {
		return ""
	}
	return shorten(w.CI.Commit, 12)
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Details lists every known fact about the run, one "key: value" a line.
func (w Who) Details() []string {
	var out []string
	add := func(k, v string) {
		if v != "" {
			out = append(out, fmt.Sprintf("%s: %s", k, v))
		}
	}
	add("user", w.User)
	add("host", w.Host)
	if c := w.CI; c != nil {
		add("ci", string(c.Provider))
		add("commit", c.Commit)
		add("ref", c.Ref)
		add("pipeline", c.Pipeline)
		add("job", c.Job)
		add("actor", c.Actor)
		add("url", c.URL)
	}
	return out
}
