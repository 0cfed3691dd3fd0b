# Two domain-list rule groups and the strict-order firewall policy that orders them.

resource "aws_vpc" "inspection" {
  cidr_block = "10.0.0.0/16"
}

resource "aws_networkfirewall_rule_group" "allow" {
  capacity = 100
  name     = "egress-allow"
  type     = "STATEFUL"
  rule_group {
    rule_variables {
      ip_sets {
        key = "HOME_NET"
        ip_set {
          definition = ["10.0.0.0/16"]
        }
      }
    }
    rules_source {
      rules_source_list {
        generated_rules_type = "ALLOWLIST"
        target_types         = ["TLS_SNI", "HTTP_HOST"]
        targets              = [".example.com", "www.example.org"]
      }
    }
    stateful_rule_options {
      rule_order = "STRICT_ORDER"
    }
  }
  tags = {
    Team = "net"
  }
}

resource "aws_networkfirewall_rule_group" "deny" {
  capacity = 10
  name     = "egress-deny"
  type     = "STATEFUL"
  rule_group {
    rule_variables {
      ip_sets {
        key = "HOME_NET"
        ip_set {
          definition = ["10.0.0.0/16"]
        }
      }
    }
    rules_source {
      rules_source_list {
        generated_rules_type = "DENYLIST"
        target_types         = ["TLS_SNI"]
        targets              = ["bad.example.com"]
      }
    }
    stateful_rule_options {
      rule_order = "STRICT_ORDER"
    }
  }
}

resource "aws_networkfirewall_firewall_policy" "egress" {
  name = "egress"
  firewall_policy {
    stateless_default_actions          = ["aws:forward_to_sfe"]
    stateless_fragment_default_actions = ["aws:forward_to_sfe"]
    stateful_engine_options {
      rule_order = "STRICT_ORDER"
    }
    stateful_default_actions = ["aws:drop_established"]
    stateful_rule_group_reference {
      resource_arn = aws_networkfirewall_rule_group.allow.arn
      priority     = 200
    }
    stateful_rule_group_reference {
      resource_arn = aws_networkfirewall_rule_group.deny.arn
      priority     = 100
    }
  }
}
