//! Public clients' captured NestPay answers, read as payops reads them:
//! the order history's rows become the ledger's facts, and an answer in
//! ISO-8859-9 keeps its Turkish letters.

use payops_core::ledger::{ReturnKind, ReturnState, ReturnsListed};
use payops_core::{Currency, HttpResponse, PaymentStatus, QueryDetails, Status};
use payops_nestpay::outcome::{money_outcome, query_outcome};

/// mewebstudio/pos's history of 20221030B3FF (EstPosResponseDataMapperTest):
/// two refunds declined (`C D … 99`), the sale voided (`S V … 00`).
const HISTORY: &str = "<CC5Response><ErrMsg></ErrMsg><ProcReturnCode>00</ProcReturnCode><Response>Approved</Response><OrderId>20221030B3FF</OrderId><Extra><TERMINALID>00655020</TERMINALID><MERCHANTID>655000200</MERCHANTID><NUMCODE>0</NUMCODE><TRX1>C\tD\t101\t101\t2022-10-30 12:58:42.906\t2022-10-30 12:58:42.906\t\t\t\t99\t22303M8rC11328</TRX1><TRX2>C\tD\t101\t101\t2022-10-30 12:57:19.847\t2022-10-30 12:57:19.847\t\t\t\t99\t22303M7UA11280</TRX2><TRX3>S\tV\t101\t101\t2022-10-30 12:51:25.405\t2022-10-30 12:51:25.405\t2022-10-30 12:51:29.839\t230300671786\tP43467\t00\t22303MzZG10851</TRX3><TRXCOUNT>3</TRXCOUNT></Extra></CC5Response>";

#[test]
fn the_history_gives_the_ledger_its_facts() {
    let o = query_outcome(
        Ok(HttpResponse::new(200, "text/xml", HISTORY.to_owned())),
        "20221030B3FF",
        Currency::TRY,
    );
    assert_eq!(o.status, Status::Succeeded, "{o:?}");
    let d: QueryDetails = serde_json::from_value(o.details).unwrap();
    // "101" in the history is 1.01 (whole minor units).
    assert_eq!(d.amount, Some(101));
    assert_eq!(d.payment_status, PaymentStatus::Cancelled);
    assert_eq!(d.refunded_amount, Some(0));
    let facts = d.ledger.unwrap();
    assert_eq!(facts.listed, ReturnsListed::EachReturn);
    assert_eq!(facts.paid, Some(101));
    let returns: Vec<_> = facts
        .returns
        .iter()
        .map(|r| {
            (
                r.transaction_id.as_deref().unwrap(),
                r.kind,
                r.state,
                r.amount,
            )
        })
        .collect();
    assert_eq!(
        returns,
        [
            (
                "22303M8rC11328",
                ReturnKind::Refund,
                ReturnState::Failed,
                Some(101)
            ),
            (
                "22303M7UA11280",
                ReturnKind::Refund,
                ReturnState::Failed,
                Some(101)
            ),
            (
                "22303MzZG10851",
                ReturnKind::Cancel,
                ReturnState::Succeeded,
                Some(101)
            ),
        ]
    );
    assert_eq!(
        facts.returns[2].date.unwrap().to_rfc3339(),
        "2022-10-30T12:51:25.405+03:00"
    );
}

#[test]
fn an_iso_8859_9_answer_keeps_its_letters_and_its_password_is_never_kept() {
    // ActiveMerchant's captured CORE-2008 (finansbank_test.rb), encoded
    // as the banks send it, with a Password echoed for the test.
    let text = "<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?>\n<CC5Response>\n  <OrderId></OrderId>\n  <GroupId></GroupId>\n  <Response>Error</Response>\n  <Password>Tq7Wz2Kx9Rv4Lm8N</Password>\n  <ProcReturnCode>99</ProcReturnCode>\n  <TransId>14023KvNI18702</TransId>\n  <ErrMsg>İptal edilmeye uygun satış işlemi bulunamadı.</ErrMsg>\n  <Extra>\n    <ERRORCODE>CORE-2008</ERRORCODE>\n    <NUMCODE>992008</NUMCODE>\n  </Extra>\n</CC5Response>\n";
    let bytes: Vec<u8> = text
        .chars()
        .map(|c| match c {
            'İ' => 0xDD,
            'ş' => 0xFE,
            'ı' => 0xFD,
            c => u8::try_from(c as u32).unwrap(),
        })
        .collect();
    let o = money_outcome(Ok(HttpResponse::new(200, "text/xml", bytes)), "1", None);
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(o.provider_code.as_deref(), Some("CORE-2008"));
    assert_eq!(
        o.provider_message.as_deref(),
        Some("İptal edilmeye uygun satış işlemi bulunamadı.")
    );
    assert!(!o.raw.to_string().contains("Tq7Wz2Kx"), "{}", o.raw);
    // Its own row in the history: reconciliation can find it.
    assert_eq!(o.details["transaction_id"], "14023KvNI18702");
}
