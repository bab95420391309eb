//! Start-up refuses a weak token secret: shorter than 32 bytes (flag or `JWT_SECRET`) or the
//! placeholder of deploy/kubernetes.yaml, with a non-zero exit and a message naming the
//! problem; exactly 32 bytes is accepted.

use crate::support::canary::chat_works;
use crate::support::node::Node;
use crate::support::{Result, fail, run};

fn refused(args: &[&str], env: &[(&str, &str)], what: &str) -> Result {
    let refused = Node::refused(args, env)?;
    if refused.code == Some(0) || refused.code.is_none() {
        return fail(format!(
            "{what}: exit {:?}, expected a non-zero code",
            refused.code
        ));
    }
    let text = refused.stderr.to_lowercase();
    if !(text.contains("secret") && (text.contains("32") || text.contains("placeholder"))) {
        return fail(format!(
            "{what}: the message does not say why: {}",
            refused.stderr
        ));
    }
    Ok(())
}

#[test]
fn a_short_jwt_secret_flag_is_refused_at_start() -> Result {
    refused(
        &["--jwt-secret", "0123456789abcdef0123456789abcde"],
        &[],
        "a 31-byte --jwt-secret",
    )
}

#[test]
fn a_short_jwt_secret_variable_is_refused_at_start() -> Result {
    refused(&[], &[("JWT_SECRET", "short")], "a 5-byte JWT_SECRET")
}

#[test]
fn the_kubernetes_placeholder_secret_is_refused_at_start() -> Result {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kubernetes.yaml");
    let yaml = std::fs::read_to_string(manifest)?;
    let Some(placeholder) = yaml.lines().find_map(|line| {
        let value = line.trim().strip_prefix("JWT_SECRET:")?.trim();
        Some(value.trim_matches('"').to_owned())
    }) else {
        return fail("deploy/kubernetes.yaml has no JWT_SECRET: line");
    };
    refused(
        &["--jwt-secret", &placeholder],
        &[],
        "the kubernetes placeholder",
    )
}

#[test]
fn a_32_byte_secret_is_accepted() -> Result {
    let node = Node::start(&["--jwt-secret", "0123456789abcdef0123456789abcdef"])?;
    run(chat_works(&node, "a 32-byte secret"))
}
