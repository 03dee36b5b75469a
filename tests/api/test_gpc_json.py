def test_it_declares_gpc_support(client):
    response = client.get("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response.json() == {"gpc": True, "lastUpdate": "2026-11-23"}
    assert response["Access-Control-Allow-Origin"] == "*"
