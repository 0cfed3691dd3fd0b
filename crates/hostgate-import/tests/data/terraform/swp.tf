# The gateway security policy of tests/data/swp/policy.yaml, its URL list and rules, as
# Terraform resources of the Google provider.
resource "google_network_security_gateway_security_policy" "egress" {
  name        = "egress"
  project     = "shop"
  location    = "us-central1"
  description = "egress of the shop's workloads"
}

resource "google_network_security_url_lists" "corp" {
  name        = "corp"
  project     = "shop"
  location    = "us-central1"
  description = "corporate hosts"
  values      = ["www.example.com", "*corp.example", "*.svc.example", "github.com/example-org/*"]
}

resource "google_network_security_gateway_security_policy_rule" "deny_bad" {
  name                    = "deny-bad"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 10
  basic_profile           = "DENY"
  session_matcher         = "host() == 'bad.corp.example'"
}

resource "google_network_security_gateway_security_policy_rule" "corp" {
  name                    = "corp"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 20
  basic_profile           = "ALLOW"
  session_matcher         = "inUrlList(host(), '${google_network_security_url_lists.corp.id}')"
}

resource "google_network_security_gateway_security_policy_rule" "off" {
  name                    = "off"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = false
  priority                = 5
  basic_profile           = "ALLOW"
  session_matcher         = "host() == 'off.example'"
}

resource "google_network_security_gateway_security_policy_rule" "google_apis" {
  name                    = "google-apis"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 30
  basic_profile           = "ALLOW"
  session_matcher         = "host().endsWith('.googleapis.com') && destination.port == 443"
}

resource "google_network_security_gateway_security_policy_rule" "cdn" {
  name                    = "cdn"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 40
  basic_profile           = "ALLOW"
  session_matcher         = "host().endsWith('.cdn.example') && host() != 'evil.cdn.example'"
}

resource "google_network_security_gateway_security_policy_rule" "evil_alt" {
  name                    = "evil-alt"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 45
  basic_profile           = "ALLOW"
  session_matcher         = "host() == 'evil.cdn.example' && destination.port == 8443"
}

resource "google_network_security_gateway_security_policy_rule" "upload" {
  name                    = "upload"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 50
  basic_profile           = "ALLOW"
  session_matcher         = "host() == 'upload.example'"
  application_matcher     = "request.method == 'GET'"
  tls_inspection_enabled  = false
}

resource "google_network_security_gateway_security_policy_rule" "no_admin" {
  name                    = "no-admin"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 60
  basic_profile           = "DENY"
  session_matcher         = <<-EOT
    host() == 'admin.app.example' &&
      request.path.startsWith('/admin')
  EOT
}

resource "google_network_security_gateway_security_policy_rule" "app" {
  name                    = "app"
  project                 = "shop"
  location                = "us-central1"
  gateway_security_policy = google_network_security_gateway_security_policy.egress.name
  enabled                 = true
  priority                = 100
  basic_profile           = "ALLOW"
  session_matcher         = "host().endsWith('.app.example') || host().startsWith('static-')"
}
