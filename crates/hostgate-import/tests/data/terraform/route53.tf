# A walled garden for one VPC: corporate names allowed, watched names alerted, the rest blocked.

resource "aws_route53_resolver_firewall_domain_list" "corp" {
  name    = "corp"
  domains = ["corp.example.", "*.corp.example."]
}

resource "aws_route53_resolver_firewall_domain_list" "alerts" {
  name    = "alerts"
  domains = ["*.watch.example."]
}

resource "aws_route53_resolver_firewall_domain_list" "bad" {
  name    = "bad"
  domains = ["*.corp.example.", "bad.example.", "*.watch.example."]
}

resource "aws_route53_resolver_firewall_domain_list" "all" {
  name    = "all"
  domains = ["*"]
}

resource "aws_route53_resolver_firewall_rule_group" "allow_corp" {
  name = "allow-corp"
}

resource "aws_route53_resolver_firewall_rule_group" "block" {
  name = "block"
}

resource "aws_route53_resolver_firewall_rule" "alert" {
  name                               = "alert"
  action                             = "ALERT"
  firewall_domain_list_id            = aws_route53_resolver_firewall_domain_list.alerts.id
  firewall_rule_group_id             = aws_route53_resolver_firewall_rule_group.allow_corp.id
  firewall_domain_redirection_action = "TRUST_REDIRECTION_DOMAIN"
  priority                           = 200
}

resource "aws_route53_resolver_firewall_rule" "corp" {
  name                               = "corp"
  action                             = "ALLOW"
  firewall_domain_list_id            = aws_route53_resolver_firewall_domain_list.corp.id
  firewall_rule_group_id             = aws_route53_resolver_firewall_rule_group.allow_corp.id
  firewall_domain_redirection_action = "TRUST_REDIRECTION_DOMAIN"
  priority                           = 100
}

resource "aws_route53_resolver_firewall_rule" "bad" {
  name                    = "bad"
  action                  = "BLOCK"
  block_response          = "NXDOMAIN"
  firewall_domain_list_id = aws_route53_resolver_firewall_domain_list.bad.id
  firewall_rule_group_id  = aws_route53_resolver_firewall_rule_group.block.id
  priority                = 101
}

resource "aws_route53_resolver_firewall_rule" "all" {
  name                    = "all"
  action                  = "BLOCK"
  block_response          = "NODATA"
  firewall_domain_list_id = aws_route53_resolver_firewall_domain_list.all.id
  firewall_rule_group_id  = aws_route53_resolver_firewall_rule_group.block.id
  priority                = 9000
}

resource "aws_route53_resolver_firewall_rule_group_association" "block" {
  name                   = "b"
  firewall_rule_group_id = aws_route53_resolver_firewall_rule_group.block.id
  priority               = 200
  vpc_id                 = aws_vpc.main.id
}

resource "aws_route53_resolver_firewall_rule_group_association" "allow_corp" {
  name                   = "a"
  firewall_rule_group_id = aws_route53_resolver_firewall_rule_group.allow_corp.id
  priority               = 101
  vpc_id                 = aws_vpc.main.id
}

resource "aws_route53_resolver_firewall_config" "main" {
  resource_id        = aws_vpc.main.id
  firewall_fail_open = "DISABLED"
}
