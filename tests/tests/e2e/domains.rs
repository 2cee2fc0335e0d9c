//! Rule T3: a mail domain belongs to one company at a time, as its primary
//! or an additional domain, decided by the domain registry.

use commands::CommandContext;
use domain::Actor;
use domain::tenant::{NewAccount, Tenant, TenantCommand};
use domain::values::{BillingCycle, DomainName, LoginId, MemberType, Name, PasswordHash, TimeZone};
use serde_json::{Value, json};
use tests::{TestApp, TestStorage, code, live_backend};
use uuid::Uuid;

const ADD: &str = "mutation($d: String!) { addMailDomain(domain: $d) { name } }";
const REMOVE: &str = "mutation($d: String!) { removeMailDomain(domain: $d) }";
const SIGN_UP: &str = "mutation($d: String!) { signUp(input: { domain: $d, companyName: \"주식회사 피해자\",
    memberType: BUSINESS, billingCycleMonths: 12, adminUserId: \"admin\", adminName: \"관리자\",
    adminPassword: \"s3cret-pass\" }) { tenant { id } } }";
const INBOX: &str = "{ mailbox(folder: \"inbox\") { totalCount edges { node { subject } } } }";

fn message(subject: &str) -> String {
    format!("From: Park <park@partner.org>\r\nTo: admin@victim.co.kr\r\nSubject: {subject}\r\n\r\nHello.\r\n")
}

/// A server that takes inbound mail, with the storage it runs on.
async fn app_with_inbound() -> (TestApp, TestStorage) {
    let storage = TestStorage::new().await;
    let mut settings = storage.settings();
    settings.inbound_secret = Some("mta-secret".into());
    (TestApp::spawn_with(settings).await, storage)
}

/// Delivers an outside message through `/inbound`; the HTTP status.
async fn inbound(app: &TestApp, subject: &str) -> u16 {
    let response = app
        .client
        .post(format!("{}/inbound", app.address))
        .bearer_auth("mta-secret")
        .body(message(subject))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn inbox_subjects(app: &TestApp, token: &str) -> Vec<String> {
    let inbox = app.gql(Some(token), INBOX, json!({})).await;
    let edges = inbox["data"]["mailbox"]["edges"].as_array().unwrap_or_else(|| panic!("{inbox}")).clone();
    edges.iter().map(|e| e["node"]["subject"].as_str().unwrap().to_owned()).collect()
}

fn data(response: &Value, field: &str) -> Value {
    assert!(response["errors"].is_null(), "{response}");
    response["data"][field].clone()
}

#[tokio::test]
async fn rule_t3_a_domain_another_company_holds_cannot_be_signed_up_nor_taken_from_its_owner() {
    let (app, _storage) = app_with_inbound().await;
    let rival = app.sign_up("rival.kr").await;
    // The attack: the rival adds the victim's domain first ...
    assert_eq!(
        data(&app.gql(Some(&rival.admin_token), ADD, json!({ "d": "victim.co.kr" })).await, "addMailDomain")["name"],
        "victim.co.kr"
    );
    // ... so the owner cannot sign up with it while the rival holds it.
    assert_eq!(code(&app.gql(None, SIGN_UP, json!({ "d": "victim.co.kr" })).await), "CONFLICT");
    // Once the rival gives it up, the owner signs up.
    assert_eq!(
        data(&app.gql(Some(&rival.admin_token), REMOVE, json!({ "d": "victim.co.kr" })).await, "removeMailDomain"),
        true
    );
    app.gql(None, SIGN_UP, json!({ "d": "victim.co.kr" })).await["data"]["signUp"]["tenant"]["id"]
        .as_str()
        .expect("the owner signs up");
    // Now the rival can neither add it again nor remove it.
    assert_eq!(code(&app.gql(Some(&rival.admin_token), ADD, json!({ "d": "victim.co.kr" })).await), "CONFLICT");
    assert_eq!(code(&app.gql(Some(&rival.admin_token), REMOVE, json!({ "d": "victim.co.kr" })).await), "NOT_FOUND");
    // The owner's admin still logs in and receives mail; a second sign-up
    // is refused as before.
    let owner = app.login("victim.co.kr", "admin", "s3cret-pass").await.expect("the owner logs in");
    assert_eq!(inbound(&app, "for the owner").await, 200);
    assert_eq!(inbox_subjects(&app, &owner).await, vec!["for the owner"]);
    assert_eq!(code(&app.gql(None, SIGN_UP, json!({ "d": "victim.co.kr" })).await), "CONFLICT");
}

#[tokio::test]
async fn rule_t3_an_additional_domain_is_one_companys_and_is_released_when_removed() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.kr").await;
    let rival = app.sign_up("rival.kr").await;
    data(&app.gql(Some(&acme.admin_token), ADD, json!({ "d": "acme.co.kr" })).await, "addMailDomain");
    // Someone else's primary or additional domain is refused.
    for taken in ["acme.kr", "acme.co.kr"] {
        assert_eq!(code(&app.gql(Some(&rival.admin_token), ADD, json!({ "d": taken })).await), "CONFLICT", "{taken}");
    }
    assert_eq!(code(&app.gql(None, SIGN_UP, json!({ "d": "acme.co.kr" })).await), "CONFLICT");
    // Adding one's own domain again is refused by the company itself.
    assert_eq!(code(&app.gql(Some(&acme.admin_token), ADD, json!({ "d": "acme.co.kr" })).await), "CONFLICT");
    // Removed, it is free for the next company.
    data(&app.gql(Some(&acme.admin_token), REMOVE, json!({ "d": "acme.co.kr" })).await, "removeMailDomain");
    data(&app.gql(Some(&rival.admin_token), ADD, json!({ "d": "acme.co.kr" })).await, "addMailDomain");
    let domains = app.gql(Some(&rival.admin_token), "{ mailDomains { name primary } }", json!({})).await;
    assert_eq!(
        data(&domains, "mailDomains"),
        json!([{ "name": "rival.kr", "primary": true }, { "name": "acme.co.kr", "primary": false }])
    );
    assert_eq!(code(&app.gql(Some(&acme.admin_token), ADD, json!({ "d": "acme.co.kr" })).await), "CONFLICT");
}

#[tokio::test]
async fn rule_t3_companies_racing_for_one_domain_get_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let mut rivals = Vec::new();
    for i in 0..4 {
        rivals.push(app.sign_up(&format!("rival{i}.kr")).await);
    }
    for round in 0..3 {
        let name = format!("contested{round}.co.kr");
        let adds = rivals.iter().map(|r| app.gql(Some(&r.admin_token), ADD, json!({ "d": name })));
        let sign_up = app.gql(None, SIGN_UP, json!({ "d": name }));
        let (added, signed) = tokio::join!(futures::future::join_all(adds), sign_up);
        let mut answers: Vec<Value> = added;
        answers.push(signed);
        let winners = answers.iter().filter(|a| a["errors"].is_null()).count();
        assert_eq!(winners, 1, "round {round}: {answers:?}");
        assert!(answers.iter().filter(|a| !a["errors"].is_null()).all(|a| code(a) == "CONFLICT"), "{answers:?}");
        // Whoever won holds it alone: every company's domains together name
        // it once.
        let mut holders = 0;
        for rival in &rivals {
            let domains = app.gql(Some(&rival.admin_token), "{ mailDomains { name } }", json!({})).await;
            holders += data(&domains, "mailDomains").as_array().unwrap().iter().filter(|d| d["name"] == *name).count();
        }
        if answers.last().unwrap()["errors"].is_null() {
            holders += 1;
        }
        assert_eq!(holders, 1, "round {round}");
    }
}

/// Appends tenant commands as the server did before the domain registry
/// existed (straight to the tenant's stream, no claim).
async fn before_the_registry(app: &TestApp, tenant: Uuid, actor: Actor, command: TenantCommand) {
    let backend = live_backend(app);
    let context = CommandContext::new(Uuid::now_v7(), actor, Some(tenant));
    backend.execute::<Tenant>(tenant, &context, command).await.expect("written as before");
}

#[tokio::test]
async fn rule_t3_histories_from_before_the_registry_keep_the_owner_in_and_the_rival_out() {
    let (app, _storage) = app_with_inbound().await;
    let rival = app.sign_up("rival.kr").await;
    let rival_id: Uuid = rival.id.parse().unwrap();
    let rival_admin = Actor::User(rival.admin_id.parse().unwrap());
    let victim = DomainName::parse_company_owned("victim.co.kr").unwrap();
    // Before the registry: the rival added the domain, then its owner
    // signed up with it.
    before_the_registry(&app, rival_id, rival_admin, TenantCommand::AddDomain { domain: victim.clone() }).await;
    let login = LoginId::parse("admin").unwrap();
    let hash = live_backend(&app).auth.hash_password("s3cret-pass").await.unwrap();
    let sign_up = TenantCommand::SignUp {
        domain: victim.clone(),
        company_name: Name::parse("companyName", "주식회사 피해자").unwrap(),
        member_type: MemberType::Business,
        billing_cycle: BillingCycle::parse(12).unwrap(),
        time_zone: TimeZone::default(),
        admin: NewAccount {
            user_id: Uuid::now_v7(),
            login,
            name: Name::parse("name", "관리자").unwrap(),
            password_hash: PasswordHash(hash),
        },
    };
    before_the_registry(&app, victim.tenant_id(), Actor::Anonymous, sign_up).await;
    assert!(app.login("victim.co.kr", "admin", "s3cret-pass").await.is_ok());

    // The rival removes "its" domain: only its own mapping goes.
    data(&app.gql(Some(&rival.admin_token), REMOVE, json!({ "d": "victim.co.kr" })).await, "removeMailDomain");
    let owner = app.login("victim.co.kr", "admin", "s3cret-pass").await.expect("the owner still logs in");
    assert_eq!(inbound(&app, "still delivered").await, 200);
    assert_eq!(inbox_subjects(&app, &owner).await, vec!["still delivered"]);
    // The owner's tenant holds the name: the rival cannot take it again.
    assert_eq!(code(&app.gql(Some(&rival.admin_token), ADD, json!({ "d": "victim.co.kr" })).await), "CONFLICT");
    assert_eq!(code(&app.gql(None, SIGN_UP, json!({ "d": "victim.co.kr" })).await), "CONFLICT");
}

// The registry claim comes first; when the company's own step then fails
// (here: a command id already used for another command), the claim is
// released and the name stays free.
#[tokio::test]
async fn rule_t3_a_claim_whose_company_step_fails_is_released() {
    let app = TestApp::spawn().await;
    let acme = app.sign_up("acme.kr").await;
    let rival = app.sign_up("rival.kr").await;
    let used = Uuid::now_v7();
    let create = "mutation($c: UUID!) { createUser(input: { userId: \"kim\", name: \"김\", password: \"user-pass-1\", commandId: $c }) { id } }";
    data(&app.gql(Some(&acme.admin_token), create, json!({ "c": used })).await, "createUser");

    let sign_up = "mutation($d: String!, $c: UUID!) { signUp(input: { domain: $d, companyName: \"주식회사 새\",
        memberType: BUSINESS, billingCycleMonths: 12, adminUserId: \"admin\", adminName: \"관리자\",
        adminPassword: \"s3cret-pass\", commandId: $c }) { tenant { id } } }";
    let refused = app.gql(None, sign_up, json!({ "d": "fresh.kr", "c": used })).await;
    assert!(!refused["errors"].is_null(), "{refused}");
    let add = "mutation($d: String!, $c: UUID!) { addMailDomain(domain: $d, commandId: $c) { name } }";
    let refused = app.gql(Some(&rival.admin_token), add, json!({ "d": "fresh.co.kr", "c": used })).await;
    assert!(!refused["errors"].is_null(), "{refused}");

    // Neither name was left held.
    data(&app.gql(Some(&rival.admin_token), ADD, json!({ "d": "fresh.kr" })).await, "addMailDomain");
    data(&app.gql(Some(&acme.admin_token), ADD, json!({ "d": "fresh.co.kr" })).await, "addMailDomain");
}

#[tokio::test]
async fn rule_t3_a_removal_that_stopped_between_its_steps_is_finished_by_removing_again() {
    let app = TestApp::spawn().await;
    let rival = app.sign_up("rival-half.kr").await;
    let admin = Some(rival.admin_token.as_str());
    assert_eq!(data(&app.gql(admin, ADD, json!({ "d": "half.co.kr" })).await, "addMailDomain")["name"], "half.co.kr");
    // The company drops the domain, and the process stops before the
    // registry's release.
    let backend = live_backend(&app);
    let tenant: Uuid = rival.id.parse().unwrap();
    let context = CommandContext::new(Uuid::now_v7(), Actor::User(rival.admin_id.parse().unwrap()), Some(tenant));
    let domain = DomainName::parse_company_owned("half.co.kr").unwrap();
    backend.execute::<Tenant>(tenant, &context, TenantCommand::RemoveDomain { domain }).await.expect("removed");
    assert_eq!(code(&app.gql(None, SIGN_UP, json!({ "d": "half.co.kr" })).await), "CONFLICT");
    // Removing it again answers that it is gone and gives it up.
    assert_eq!(code(&app.gql(admin, REMOVE, json!({ "d": "half.co.kr" })).await), "NOT_FOUND");
    let owner = app.gql(None, SIGN_UP, json!({ "d": "half.co.kr" })).await;
    assert!(data(&owner, "signUp")["tenant"]["id"].is_string(), "{owner}");
}
