-- Argo CD action "restart": bump spec.restartNonce; the operator restarts every worker once (recovery from the
-- latest checkpoint is exactly-once).
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.restartNonce = (tonumber(obj.spec.restartNonce) or 0) + 1
return obj
