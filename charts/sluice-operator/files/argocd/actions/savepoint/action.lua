-- Argo CD action "savepoint": bump spec.savepointTriggerNonce; the operator takes one savepoint per new value.
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.savepointTriggerNonce = (tonumber(obj.spec.savepointTriggerNonce) or 0) + 1
return obj
