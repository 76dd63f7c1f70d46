//! Interoperability with an independent client, Python's paho-mqtt, through the broker at
//! `ZATO_TEST_MQTT_URL`: paho publishes invoices at QoS 1 and 2 to a channel, and receives the
//! receipts the service publishes through `outgoing.mqtt` and the channel's dead letters.
//! Needs `python3` with paho-mqtt (`pip install paho-mqtt==2.1.0`, as `.ci/run` does).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step fails the test"
)]

use std::sync::Arc;

use zato_core::config::{ConfigRuntime, MemoryStore, ObjectKey, PutMode, Section};
use zato_core::kind::Plugin;
use zato_core::{Context, Platform, Request, Response, Service, ServiceError};
use zato_macros::SimpleIo;
use zato_mqtt::{MqttMessage, MqttOutgoing, QoS};

fn url() -> String {
    std::env::var("ZATO_TEST_MQTT_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("ZATO_TEST_MQTT_URL names the MQTT broker this test needs (mqtt://127.0.0.1:1883)")
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
struct Invoice {
    id: String,
    amount: i64,
}

#[derive(SimpleIo, Debug, Clone)]
#[sio(crate = "zato_core")]
struct Done {
    id: String,
}

/// Publishes a receipt of each invoice at QoS 2 to `receipts`; refuses negative amounts.
#[derive(Clone)]
struct Billing {
    receipts: String,
}

impl Service for Billing {
    const NAME: &'static str = "test.billing";
    type Input = Invoice;
    type Output = Done;

    async fn handle(
        &self,
        req: Request<Invoice>,
        ctx: &Context,
    ) -> Result<Response<Done>, ServiceError> {
        let Invoice { id, amount } = req.input;
        if amount < 0 {
            return Err(ServiceError::internal(format!(
                "invoice {id} has a negative amount"
            )));
        }
        let receipt = format!(r#"{{"id":"{id}","amount":{amount}}}"#);
        ctx.outgoing()
            .mqtt("broker")?
            .publish(&MqttMessage::new(self.receipts.as_str(), receipt).with_qos(QoS::ExactlyOnce))
            .await?;
        Ok(Response::new(Done { id }))
    }
}

const PAHO: &str = r#"
import json, sys, time, threading
import paho.mqtt.client as mqtt
host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
got, subscribed = [], threading.Event()
def on_connect(c, userdata, flags, reason, props):
    c.subscribe([(prefix + "/receipts", 2), (prefix + "/dead", 1)])
def on_subscribe(c, userdata, mid, reasons, props):
    subscribed.set()
def on_message(c, userdata, msg):
    got.append({"topic": msg.topic, "qos": msg.qos, "payload": json.loads(msg.payload)})
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-" + prefix.replace("/", "-"))
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect(host, port)
c.loop_start()
assert subscribed.wait(10), "not subscribed"
for i, (amount, qos) in enumerate([(10, 1), (20, 2), (-5, 1)]):
    c.publish(prefix + "/invoices", json.dumps({"id": f"paho{i}", "amount": amount}), qos=qos).wait_for_publish(10)
deadline = time.time() + 30
while len(got) < 3 and time.time() < deadline:
    time.sleep(0.05)
c.loop_stop()
c.disconnect()
print(json.dumps(got))
"#;

#[tokio::test]
#[ignore = "needs an MQTT broker (ZATO_TEST_MQTT_URL) and python3 with paho-mqtt"]
async fn paho_publishes_invoices_and_receives_receipts_and_dead_letters() {
    let url = url();
    let hostport = url.trim_start_matches("mqtt://").trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "1883"));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let prefix = format!("zato-test/interop/{}/{nanos}", std::process::id());
    let platform = Platform::new();
    platform
        .services()
        .deploy(Billing {
            receipts: format!("{prefix}/receipts"),
        })
        .unwrap();
    let runtime = ConfigRuntime::new(platform.clone(), Arc::new(MemoryStore::new()));
    for kind in zato_mqtt::plugin().attach(&platform).await.unwrap() {
        runtime.register(kind);
    }
    let put = |section, kind: &'static str, object: serde_json::Value| {
        let runtime = runtime.clone();
        async move {
            let name = object["name"].as_str().unwrap().to_owned();
            runtime
                .put(
                    &ObjectKey::new(section, kind, name.as_str()),
                    object,
                    PutMode::Upsert,
                    None,
                    "test",
                )
                .await
                .unwrap();
        }
    };
    put(
        Section::Outgoing,
        "mqtt",
        serde_json::json!({"name": "broker", "url": url}),
    )
    .await;
    put(Section::Channels, "mqtt", serde_json::json!({
        "name": "billing", "connection": "broker", "service": Billing::NAME, "topics": [format!("{prefix}/invoices")],
        "qos": 2, "client_id": format!("zato-interop-{nanos}"), "max_deliveries": 2, "retry_delay": 0.1,
        "dead_letter_topic": format!("{prefix}/dead")
    })).await;
    platform.start().await.unwrap();

    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(PAHO)
        .args([host, port, &prefix])
        .output()
        .await
        .expect("this test needs python3 with paho-mqtt (pip install paho-mqtt==2.1.0)");
    assert!(
        out.status.success(),
        "paho-mqtt failed (pip install paho-mqtt==2.1.0): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let receipts: Vec<&serde_json::Value> = got
        .iter()
        .filter(|m| m["topic"] == format!("{prefix}/receipts"))
        .collect();
    assert_eq!(receipts.len(), 2, "{got:?}");
    assert!(receipts.iter().all(|r| r["qos"] == 2), "{got:?}");
    assert!(
        receipts
            .iter()
            .any(|r| r["payload"]["id"] == "paho1" && r["payload"]["amount"] == 20)
    );
    let dead: Vec<&serde_json::Value> = got
        .iter()
        .filter(|m| m["topic"] == format!("{prefix}/dead"))
        .collect();
    assert_eq!(dead.len(), 1, "{got:?}");
    assert!(
        dead[0]["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("invoice paho2 has a negative amount")
    );
    assert_eq!(dead[0]["payload"]["deliveries"], 2);
    runtime
        .delete(
            &ObjectKey::new(Section::Channels, "mqtt", "billing"),
            None,
            "test",
        )
        .await
        .unwrap();
    platform.shutdown().await;
}
