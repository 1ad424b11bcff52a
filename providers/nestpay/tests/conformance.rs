//! NestPay runs the kit's behavior suite against its own simulator, linked
//! statically and loaded as a cdylib through the real loader. The
//! documented answers are public clients' captured bank answers, literally
//! (ActiveMerchant's `finansbank_test.rb`, mewebstudio/pos's
//! `EstPosResponseDataMapperTest.php` rendered as the XML it maps).

use payops_conformance::suite::{ReturnExpect as E, Suite};
use payops_core::OperationKind::*;
use payops_core::driver::PluginProvider;
use payops_core::loader;
use payops_core::{HttpResponse, Reason as R, Status as S, Verdict};
use serde_json::json;

// Random-looking: the suite also looks for 6-character pieces of it.
const PASSWORD: &str = "Tq7Wz2Kx9Rv4Lm8N";

fn at(s: &str) -> payops_core::chrono::DateTime<payops_core::chrono::FixedOffset> {
    payops_core::chrono::DateTime::parse_from_rfc3339(s).unwrap()
}

/// R1 paid on 2024-05-01; R2 too, its day not closed at the bank.
fn orders() -> serde_json::Value {
    json!({"orders": [{"order_ref": "R1", "amount": 5000, "date": "2024-05-01T09:00:00+03:00"},
                      {"order_ref": "R2", "amount": 5000, "date": "2024-05-01T09:00:00+03:00", "settled": false}]})
}

fn suite(p: PluginProvider) -> Suite {
    Suite::new(
        p,
        json!({"base_url": "http://sim.invalid/fim/api", "client_id": "700655000200", "name": "ISBANKAPI", "password": PASSWORD, "timeout_ms": 5000}),
    )
    .seed(json!({
        "merchants": [{"client_id": "700655000200", "name": "ISBANKAPI", "password": PASSWORD}],
        "orders": [{"order_ref": "1", "amount": 10000},
                   {"order_ref": "20221030B3FF", "amount": 101, "settled": false}]
    }))
    .example(Refund, json!({"order_ref": "1", "amount": 1050}))
    .example(Cancel, json!({"order_ref": "20221030B3FF"}))
    .example(Query, json!({"order_ref": "20221030B3FF"}))
    .example(Return, json!({"order_ref": "1", "amount": 1050}))
    // The rule on the simulator's clock (end of day: midnight).
    .return_case("whole, on the payment's day: a void", at("2024-05-01T12:00:00+03:00"), orders(), json!({"order_ref": "R1"}), E::Became(Cancel))
    .return_case("partial, on the payment's day: not yet", at("2024-05-01T23:59:00+03:00"), orders(), json!({"order_ref": "R1", "amount": 1000}), E::Refused(R::NotAllowedToday))
    .return_case("partial, the next day: a refund", at("2024-05-02T00:00:00+03:00"), orders(), json!({"order_ref": "R1", "amount": 1000}), E::Became(Refund))
    .return_case("whole, the next day: a refund of what remains", at("2024-05-02T09:00:00+03:00"), orders(), json!({"order_ref": "R1"}), E::Became(Refund))
    .return_case("whole, the bank's day not closed (CORE-2508): a void", at("2024-05-02T00:30:00+03:00"), orders(), json!({"order_ref": "R2"}), E::FellBack(Refund, Cancel))
    .return_case("partial, the bank's day not closed (CORE-2508): no fallback", at("2024-05-02T00:30:00+03:00"), orders(), json!({"order_ref": "R2", "amount": 1000}), E::Declined(Refund, R::NotAllowedToday))
    // No public sample of NestPay's answer to it: the simulator declines.
    .over_refund(json!({"order_ref": "1", "amount": 8951}), R::Declined)
    .documented(Refund, "approved", xml(AM_REFUND_OK), S::Succeeded, None)
    .documented(Refund, "approved for another order", xml(AM_CREDIT_OK), S::Unknown, Some(R::OrderMismatch))
    .documented(Refund, "Declined 12", xml(AM_DECLINED_12), S::Failed, Some(R::Declined))
    .documented(Refund, "CORE-2508 before end of day", xml(AM_REFUND_2508), S::Failed, Some(R::NotAllowedToday))
    .documented(Refund, "CORE-2508 (mews)", xml(MEWS_REFUND_2508), S::Failed, Some(R::NotAllowedToday))
    .documented(Refund, "215021 net amount 0", xml(&AM_REFUND_2508.replace("CORE-2508", "215021")), S::Unknown, Some(R::AmountExceedsRemaining))
    .documented(Refund, "CORE-2012 (an Error payops does not know)", xml(AM_CREDIT_2012), S::Unknown, Some(R::ProviderError))
    .documented(Cancel, "approved", xml(MEWS_CANCEL_OK), S::Succeeded, None)
    .documented(Cancel, "approved for another order", xml(AM_VOID_OK), S::Unknown, Some(R::OrderMismatch))
    .documented(Cancel, "CORE-2008 no sale fit to cancel", xml(AM_VOID_2008), S::Unknown, Some(R::AlreadyCancelled))
    .documented(Cancel, "CORE-2008 (mews)", xml(MEWS_CANCEL_2008), S::Unknown, Some(R::AlreadyCancelled))
    .documented(Cancel, "CORE-2115", xml(AM_CAPTURE_2115), S::Unknown, Some(R::ProviderError))
    .documented(Query, "history", xml(MEWS_HISTORY_OK), S::Succeeded, None)
    .documented(Query, "history: no record", xml(MEWS_HISTORY_NONE.replace("20221030B3FF2", "20221030B3FF").as_str()), S::Failed, Some(R::NotFound))
    .reconcile_case(Refund, "its amount refunded, approved", xml(&history("1", "C\tS\t1050\t1050\t\t\t\t\t\t00\t14024KACE13836")), Verdict::Succeeded)
    .reconcile_case(Refund, "its amount refunded, declined", xml(&history("1", "C\tD\t1050\t1050\t\t\t\t\t\t99\t14024KEwH13882")), Verdict::Failed)
    .reconcile_case(Refund, "no row", xml(&history("1", "S\tS\t10000\t10000\t\t\t\t\t\t00\tSALE")), Verdict::Undetermined)
    .reconcile_case(Cancel, "the sale voided", xml(&history("20221030B3FF", "S\tV\t101\t101\t2022-10-30 12:51:25.405\t2022-10-30 12:51:25.405\t2022-10-30 12:51:29.839\t230300671786\tP43467\t00\t22303MzZG10851")), Verdict::Succeeded)
}

/// A history of `order` with one row (the form of mews' history answer).
fn history(order: &str, row: &str) -> String {
    format!(
        "<CC5Response><ErrMsg></ErrMsg><ProcReturnCode>00</ProcReturnCode><Response>Approved</Response><OrderId>{order}</OrderId><Extra><NUMCODE>0</NUMCODE><TRX1>{row}</TRX1><TRXCOUNT>1</TRXCOUNT></Extra></CC5Response>"
    )
}

fn xml(body: &str) -> HttpResponse {
    HttpResponse::new(200, "text/xml", body.to_owned())
}

// ActiveMerchant, test/unit/gateways/finansbank_test.rb.
const AM_REFUND_OK: &str = "<CC5Response>\n  <OrderId>1</OrderId>\n  <GroupId>1</GroupId>\n  <Response>Approved</Response>\n  <AuthCode>811778</AuthCode>\n  <HostRefNum>402410197809</HostRefNum>\n  <ProcReturnCode>00</ProcReturnCode>\n  <TransId>14024KACE13836</TransId>\n  <ErrMsg></ErrMsg>\n  <Extra>\n    <SETTLEID>1364</SETTLEID>\n    <TRXDATE>20140124 10:00:02</TRXDATE>\n    <ERRORCODE></ERRORCODE>\n    <PARAPUANTRL>000000001634</PARAPUANTRL>\n    <PARAPUAN>000000001634</PARAPUAN>\n    <NUMCODE>00</NUMCODE>\n    <CAVVRESULTCODE>3</CAVVRESULTCODE>\n  </Extra>\n</CC5Response>\n";
const AM_CREDIT_OK: &str = "<CC5Response>\n  <OrderId>ORDER-14024KUGB13953</OrderId>\n  <GroupId>ORDER-14024KUGB13953</GroupId>\n  <Response>Approved</Response>\n  <AuthCode>718160</AuthCode>\n  <HostRefNum>402410197818</HostRefNum>\n  <ProcReturnCode>00</ProcReturnCode>\n  <TransId>14024KUGD13955</TransId>\n  <ErrMsg></ErrMsg>\n  <Extra>\n    <SETTLEID>1364</SETTLEID>\n    <TRXDATE>20140124 10:20:06</TRXDATE>\n    <ERRORCODE></ERRORCODE>\n    <NUMCODE>00</NUMCODE>\n    <CAVVRESULTCODE>3</CAVVRESULTCODE>\n  </Extra>\n</CC5Response>\n";
const AM_DECLINED_12: &str = "<CC5Response>\n      <OrderId>1</OrderId>\n      <GroupId>2</GroupId>\n      <Response>Declined</Response>\n      <AuthCode></AuthCode>\n      <HostRefNum>123456</HostRefNum>\n      <ProcReturnCode>12</ProcReturnCode>\n      <TransId>123456</TransId>\n      <ErrMsg>Not enough credit</ErrMsg>\n</CC5Response>\n";
const AM_REFUND_2508: &str = "<CC5Response>\n  <OrderId></OrderId>\n  <GroupId></GroupId>\n  <Response>Error</Response>\n  <AuthCode></AuthCode>\n  <HostRefNum></HostRefNum>\n  <ProcReturnCode>99</ProcReturnCode>\n  <TransId>14024KEwH13882</TransId>\n  <ErrMsg>Iade yapilamaz, siparis gunsonuna girmemis.</ErrMsg>\n  <Extra>\n    <SETTLEID></SETTLEID>\n    <TRXDATE>20140124 10:04:48</TRXDATE>\n    <ERRORCODE>CORE-2508</ERRORCODE>\n    <NUMCODE>992508</NUMCODE>\n  </Extra>\n</CC5Response>\n";
const AM_CREDIT_2012: &str = "<CC5Response>\n  <OrderId></OrderId>\n  <GroupId></GroupId>\n  <Response>Error</Response>\n  <AuthCode></AuthCode>\n  <HostRefNum></HostRefNum>\n  <ProcReturnCode>99</ProcReturnCode>\n  <TransId>14024KUtG13966</TransId>\n  <ErrMsg>Kredi karti numarasi gecerli formatta degil.</ErrMsg>\n  <Extra>\n    <SETTLEID></SETTLEID>\n    <TRXDATE>20140124 10:20:45</TRXDATE>\n    <ERRORCODE>CORE-2012</ERRORCODE>\n    <NUMCODE>992012</NUMCODE>\n  </Extra>\n</CC5Response>\n";
const AM_VOID_OK: &str = "<CC5Response>\n  <OrderId>1</OrderId>\n  <GroupId>1</GroupId>\n  <Response>Approved</Response>\n  <AuthCode>794573</AuthCode>\n  <HostRefNum>402310197597</HostRefNum>\n  <ProcReturnCode>00</ProcReturnCode>\n  <TransId>14023KVGD18549</TransId>\n  <ErrMsg></ErrMsg>\n    <Extra>\n    <SETTLEID>1363</SETTLEID>\n    <TRXDATE>20140123 10:21:05</TRXDATE>\n    <ERRORCODE></ERRORCODE>\n    <NUMCODE>00</NUMCODE>\n    </Extra>\n</CC5Response>\n";
const AM_VOID_2008: &str = "<CC5Response>\n  <OrderId></OrderId>\n  <GroupId></GroupId>\n  <Response>Error</Response>\n  <AuthCode></AuthCode>\n  <HostRefNum></HostRefNum>\n  <ProcReturnCode>99</ProcReturnCode>\n  <TransId>14023KvNI18702</TransId>\n  <ErrMsg>İptal edilmeye uygun satış işlemi bulunamadı.</ErrMsg>\n  <Extra>\n    <SETTLEID></SETTLEID>\n    <TRXDATE>20140123 10:47:13</TRXDATE>\n    <ERRORCODE>CORE-2008</ERRORCODE>\n    <NUMCODE>992008</NUMCODE>\n  </Extra>\n</CC5Response>\n";
const AM_CAPTURE_2115: &str = "<CC5Response>\n  <OrderId></OrderId>\n  <GroupId></GroupId>\n  <Response>Error</Response>\n  <AuthCode></AuthCode>\n  <HostRefNum></HostRefNum>\n  <ProcReturnCode>99</ProcReturnCode>\n  <TransId>13052TtZF06012712</TransId>\n  <ErrMsg>PostAuth sadece iliskili bir PreAuth icin yapilabilir.</ErrMsg>\n  <Extra>\n    <SETTLEID></SETTLEID>\n    <TRXDATE>20130221 19:45:25</TRXDATE>\n    <ERRORCODE>CORE-2115</ERRORCODE>\n    <NUMCODE>992115</NUMCODE>\n  </Extra>\n</CC5Response>\n";

// mewebstudio/pos, tests/DataMapper/ResponseDataMapper/EstPosResponseDataMapperTest.php.
const MEWS_REFUND_2508: &str = "<CC5Response><OrderId>20221030B3FF</OrderId><GroupId>20221030B3FF</GroupId><Response>Error</Response><AuthCode></AuthCode><HostRefNum></HostRefNum><ProcReturnCode>99</ProcReturnCode><TransId>22303M8rC11328</TransId><ErrMsg>Iade yapilamaz, siparis gunsonuna girmemis.</ErrMsg><Extra><SETTLEID></SETTLEID><TRXDATE>20221030 12:58:42</TRXDATE><ERRORCODE>CORE-2508</ERRORCODE><NUMCODE>992508</NUMCODE></Extra></CC5Response>";
const MEWS_CANCEL_OK: &str = "<CC5Response><OrderId>20221030B3FF</OrderId><GroupId>20221030B3FF</GroupId><Response>Approved</Response><AuthCode>P43467</AuthCode><HostRefNum>230300671786</HostRefNum><ProcReturnCode>00</ProcReturnCode><TransId>22303MzZG10851</TransId><ErrMsg></ErrMsg><Extra><SETTLEID>2287</SETTLEID><TRXDATE>20221030 12:51:25</TRXDATE><ERRORCODE></ERRORCODE><TERMINALID>00655020</TERMINALID><MERCHANTID>655000200</MERCHANTID><CARDBRAND>VISA</CARDBRAND><CARDISSUER>AKBANK T.A.S.</CARDISSUER><HOSTDATE>1030-125130</HOSTDATE><NUMCODE>00</NUMCODE></Extra></CC5Response>";
const MEWS_CANCEL_2008: &str = "<CC5Response><OrderId></OrderId><GroupId></GroupId><Response>Error</Response><AuthCode></AuthCode><HostRefNum></HostRefNum><ProcReturnCode>99</ProcReturnCode><TransId>22303M5IA11121</TransId><ErrMsg>İptal edilmeye uygun satış işlemi bulunamadı.</ErrMsg><Extra><SETTLEID></SETTLEID><TRXDATE>20221030 12:55:08</TRXDATE><ERRORCODE>CORE-2008</ERRORCODE><NUMCODE>992008</NUMCODE></Extra></CC5Response>";
/// The history of 20221030B3FF: two refunds declined, the sale voided.
pub const MEWS_HISTORY_OK: &str = "<CC5Response><ErrMsg></ErrMsg><ProcReturnCode>00</ProcReturnCode><Response>Approved</Response><OrderId>20221030B3FF</OrderId><Extra><TERMINALID>00655020</TERMINALID><MERCHANTID>655000200</MERCHANTID><NUMCODE>0</NUMCODE><TRX1>C\tD\t101\t101\t2022-10-30 12:58:42.906\t2022-10-30 12:58:42.906\t\t\t\t99\t22303M8rC11328</TRX1><TRX2>C\tD\t101\t101\t2022-10-30 12:57:19.847\t2022-10-30 12:57:19.847\t\t\t\t99\t22303M7UA11280</TRX2><TRX3>S\tV\t101\t101\t2022-10-30 12:51:25.405\t2022-10-30 12:51:25.405\t2022-10-30 12:51:29.839\t230300671786\tP43467\t00\t22303MzZG10851</TRX3><TRXCOUNT>3</TRXCOUNT></Extra></CC5Response>";
const MEWS_HISTORY_NONE: &str = "<CC5Response><ErrMsg>No record found for 20221030B3FF2</ErrMsg><ProcReturnCode>05</ProcReturnCode><Response>Declined</Response><OrderId>20221030B3FF2</OrderId><Extra><NUMCODE>0</NUMCODE><TRXCOUNT>0</TRXCOUNT></Extra></CC5Response>";

#[tokio::test]
async fn statically_linked_passes_the_suite() {
    let p = PluginProvider::from_static(payops_nestpay::payops_plugin::api()).unwrap();
    let report = suite(p).run_all().await;
    report.assert_passed();
    assert!(report.passed.len() > 60, "{:?}", report.passed);
}

#[tokio::test]
async fn loaded_as_cdylib_passes_the_suite() {
    let p = loader::load(&payops_conformance::built_cdylib("payops_nestpay")).unwrap();
    suite(p).run_all().await.assert_passed();
}
