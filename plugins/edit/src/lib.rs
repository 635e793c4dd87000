warden_sdk::plugin! {}
