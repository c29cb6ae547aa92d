package record

import (
	"reflect"
	"testing"
)

func TestDetectCI(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want *CI
		who  string
	}{
		{"none", map[string]string{"USER": "root"}, nil, "root@vm"},
		{"github actions", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SHA": "3f2a9c1d0e4b5a6978877665544332211a0b9c8d", "GITHUB_REF_NAME": "main",
			"GITHUB_RUN_ID": "1234", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_JOB": "deploy", "GITHUB_ACTOR": "alice",
			"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/app"},
			&CI{Provider: ProviderGitHubActions, Commit: "3f2a9c1d0e4b5a6978877665544332211a0b9c8d", Ref: "main", Pipeline: "1234.2", Job: "deploy", Actor: "alice",
				URL: "https://github.com/acme/app/actions/runs/1234"}, "github-actions alice 1234.2"},
		{"gitlab", map[string]string{"GITLAB_CI": "true", "CI": "true", "CI_COMMIT_SHA": "abc", "CI_COMMIT_REF_NAME": "v1.2", "CI_PIPELINE_ID": "77",
			"CI_JOB_ID": "901", "GITLAB_USER_LOGIN": "bob", "CI_JOB_URL": "https://gitlab.example/acme/app/-/jobs/901"},
			&CI{Provider: ProviderGitLab, Commit: "abc", Ref: "v1.2", Pipeline: "77", Job: "901", Actor: "bob", URL: "https://gitlab.example/acme/app/-/jobs/901"}, "gitlab bob 77"},
		{"jenkins", map[string]string{"JENKINS_URL": "https://ci.example/", "GIT_COMMIT": "def", "GIT_BRANCH": "origin/main", "JOB_NAME": "app-deploy",
			"BUILD_NUMBER": "42", "BUILD_TAG": "jenkins-app-deploy-42", "BUILD_URL": "https://ci.example/job/app-deploy/42/"},
			&CI{Provider: ProviderJenkins, Commit: "def", Ref: "origin/main", Pipeline: "jenkins-app-deploy-42", Job: "app-deploy#42", URL: "https://ci.example/job/app-deploy/42/"},
			"jenkins jenkins-app-deploy-42"},
		{"buildkite", map[string]string{"BUILDKITE": "true", "CI": "true", "BUILDKITE_COMMIT": "123", "BUILDKITE_BRANCH": "main", "BUILDKITE_BUILD_NUMBER": "8",
			"BUILDKITE_JOB_ID": "j-1", "BUILDKITE_BUILD_CREATOR": "Carol", "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/app/builds/8"},
			&CI{Provider: ProviderBuildkite, Commit: "123", Ref: "main", Pipeline: "8", Job: "j-1", Actor: "Carol", URL: "https://buildkite.com/acme/app/builds/8"}, "buildkite Carol 8"},
		{"circleci", map[string]string{"CIRCLECI": "true", "CIRCLE_SHA1": "456", "CIRCLE_TAG": "v2", "CIRCLE_WORKFLOW_ID": "wf", "CIRCLE_BUILD_NUM": "5", "CIRCLE_USERNAME": "dan"},
			&CI{Provider: ProviderCircleCI, Commit: "456", Ref: "v2", Pipeline: "wf", Job: "5", Actor: "dan"}, "circleci dan wf"},
		{"generic", map[string]string{"CI": "true"}, &CI{Provider: ProviderGeneric}, "ci"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DetectCI(tc.env)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DetectCI = %+v, want %+v", got, tc.want)
			}
			if w := (Who{User: "root", Host: "vm", CI: got}).String(); w != tc.who {
				t.Errorf("Who = %q, want %q", w, tc.who)
			}
		})
	}
}

func TestWhoCommitIsShort(t *testing.T) {
	w := Who{CI: &CI{Provider: ProviderGitLab, Commit: "3f2a9c1d0e4b5a6978877665544332211a0b9c8d"}}
	if c := w.Commit(); c != "3f2a9c1d0e4b" {
		t.Errorf("Commit = %q", c)
	}
	if c := (Who{User: "u"}).Commit(); c != "" {
		t.Errorf("Commit without CI = %q", c)
	}
}
